// An ES-module HTTP server: listens on PORT with the options-object form of listen().
import http from 'node:http';

const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`esm ${process.pid} instance ${process.env.NODE_APP_INSTANCE ?? '-'} port ${server.address().port}\n`);
});
server.listen({ port, host: '127.0.0.1' }, () => console.log(`esm listening on ${server.address().port}`));
