'use strict';
// The "before": a Node http server on the socket the supervisor passes as fd 3 (reuseport or shared mode), stopped
// with server.close() on SIGTERM as Node's documentation shows. Node >= 19's close() closes idle keep-alive
// connections at once (racing the client's next request) and waits for ever on the busy ones.
const http = require('http');

const server = http.createServer((req, res) => {
  res.end(`hello from node-naive pid ${process.pid}\n`);
});
server.listen({ fd: 3 });
process.on('SIGTERM', () => server.close());
