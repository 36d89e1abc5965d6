// A Koa 3 app written as its docs show, with @koa/bodyparser for JSON bodies; app.listen(port), no signal handlers
// and no shutdown code. GET / answers text with the pid; POST / echoes the parsed JSON body.
const Koa = require('koa')
const { bodyParser } = require('@koa/bodyparser')

const app = new Koa()
const port = Number(process.env.PORT || 3000)

app.use(bodyParser())

// response
app.use(ctx => {
  if (ctx.method === 'POST') {
    ctx.body = { received: ctx.request.body, pid: process.pid }
  } else {
    ctx.body = `Hello Koa, pid ${process.pid}\n`
  }
})

app.listen(port)
console.log(`koa listening on port ${port} (pid ${process.pid})`)
