// A Fastify 5 app written as its getting-started docs show (logger on, listen({ port }) with the default host),
// no signal handlers and no shutdown code. GET / answers JSON with the pid; POST / echoes the parsed JSON body.
const fastify = require('fastify')({
  logger: true
})
const port = Number(process.env.PORT || 3000)

// Declare the routes
fastify.get('/', function (request, reply) {
  reply.send({ hello: 'world', pid: process.pid })
})

fastify.post('/', function (request, reply) {
  reply.send({ received: request.body, pid: process.pid })
})

// Run the server!
fastify.listen({ port }, function (err, address) {
  if (err) {
    fastify.log.error(err)
    process.exit(1)
  }
  // Server is now listening on ${address}
})
