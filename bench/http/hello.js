// hello.js: the HTTP hello-world server on Node's http module, for
// bench/http/run.sh. Every request gets 200 "Hello, World!\n" as
// text/plain (Node adds Date, Content-Length, keep-alive).
//
//   taskset -c 0 node hello.js [PORT [CERT KEY]]
//
// With CERT and KEY (PEM files) it serves HTTPS (the https module).
//
// Prints "READY port=P pid=N" once it listens on 127.0.0.1 (PORT 0, the
// default: any free one) and serves until killed.
'use strict';
const fs = require('fs');

const hello = Buffer.from('Hello, World!\n');
const handle = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': hello.length });
    res.end(hello);
};
const [cert, key] = process.argv.slice(3, 5);
const server = cert
    ? require('https').createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handle)
    : require('http').createServer(handle);
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] || 0), backlog: 511 }, () => {
    console.log(`READY port=${server.address().port} pid=${process.pid}`);
});
