// The WebSocket benchmark's server on Node's `ws` (npm ws@8), for
// bench/ws/run.sh: the same two routes as aioc_ws_server.c.
//
//   NODE_PATH=DIR/node_modules node ws_server.js [PORT [CERT KEY]]
//
// /echo sends every message back (text as text, binary as binary);
// /broadcast sends every message from any client to every client connected
// to /broadcast, the sender included: ws.send() on each, which queues in
// the socket without waiting (nothing is dropped). No permessage-deflate.
// Prints "READY port=P pid=N" once it listens on 127.0.0.1 and serves
// until killed.
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');
const { WebSocketServer } = require('ws');

const [port = '0', cert, key] = process.argv.slice(2);
const server = cert
    ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) })
    : http.createServer();
const echo = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const fan = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const clients = new Set();

echo.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
fan.on('connection', (ws) => {
    clients.add(ws);
    ws.on('message', (data, isBinary) => {
        for (const c of clients) c.send(data, { binary: isBinary });
    });
    ws.on('close', () => clients.delete(ws));
});
server.on('upgrade', (req, socket, head) => {
    const wss = req.url === '/echo' ? echo : req.url === '/broadcast' ? fan : null;
    if (!wss) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen({ port: Number(port), host: '127.0.0.1', backlog: 1024 }, () => {
    console.log(`READY port=${server.address().port} pid=${process.pid}`);
});
