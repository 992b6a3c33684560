// hello.js: the HTTP hello-world server on Node's http module, for
// bench/http/run.sh. Every request gets 200 "Hello, World!\n" as
// text/plain (Node adds Date, Content-Length, keep-alive).
//
//   taskset -c 0 node hello.js [PORT]
//
// Prints "READY port=P pid=N" once it listens on 127.0.0.1 (PORT 0, the
// default: any free one) and serves until killed.
'use strict';
const http = require('http');

const hello = Buffer.from('Hello, World!\n');
const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': hello.length });
    res.end(hello);
});
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] || 0), backlog: 511 }, () => {
    console.log(`READY port=${server.address().port} pid=${process.pid}`);
});
