// An Express 5 app written as its getting-started docs show: express.json() for bodies, app.listen(port, cb),
// no signal handlers and no shutdown code. GET / answers text with the pid; POST / echoes the parsed JSON body.
const express = require('express')
const app = express()
const port = Number(process.env.PORT || 3000)

app.use(express.json())

app.get('/', (req, res) => {
  res.send(`Hello World from express, pid ${process.pid}\n`)
})

app.post('/', (req, res) => {
  res.json({ received: req.body, pid: process.pid })
})

app.listen(port, () => {
  console.log(`Example app listening on port ${port} (pid ${process.pid})`)
})
