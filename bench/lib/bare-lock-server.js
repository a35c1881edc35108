// The least a Node lock server can be, for the server benchmark's reference
// rows: a FIFO queue per key and nothing else (no sessions, leases,
// validation, detection, metrics or stacks), over plain TCP (one JSON
// message per line), a plain WebSocket (`ws`, one JSON message per frame) or
// bare socket.io (one event per request, answered by its acknowledgement).
// lockscope's server on the same machine cannot go faster than the socket.io
// one does, and no Node server faster than the TCP one: the rows say what
// the transport and the machine allow.
//
//   node bench/lib/bare-lock-server.js tcp|ws|socketio PORT
//
// Protocol: lock(key) is answered when granted, unlock(key) at once. A
// connection that closes gives up what it held and its place in queues.
import net from 'node:net';

const [kind, portArg] = process.argv.slice(2);
// Stopped by the bench with SIGTERM: exit normally (so --cpu-prof, when given, writes its profile).
process.on('SIGTERM', () => process.exit(0));
const port = Number(portArg);

/** key → { holder, queue: [{ conn, grant }] }; holder is a connection. */
const keys = new Map();

function lock(conn, key, grant) {
  let k = keys.get(key);
  if (k === undefined) keys.set(key, (k = { holder: null, queue: [], head: 0 }));
  if (k.holder === null) {
    k.holder = conn;
    grant();
  } else {
    k.queue.push({ conn, grant });
  }
}

function unlock(conn, key) {
  const k = keys.get(key);
  if (k === undefined || k.holder !== conn) return false;
  handOn(key, k);
  return true;
}

function handOn(key, k) {
  k.holder = null;
  while (k.head < k.queue.length) {
    const next = k.queue[k.head];
    k.queue[k.head++] = undefined;
    if (next.conn.closed) continue;
    k.holder = next.conn;
    next.grant();
    break;
  }
  if (k.head === k.queue.length) {
    k.queue = [];
    k.head = 0;
    if (k.holder === null) keys.delete(key);
  }
}

function closed(conn) {
  conn.closed = true;
  for (const [key, k] of keys) if (k.holder === conn) handOn(key, k);
}

if (kind === 'tcp') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const conn = { closed: false };
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const { op, id, key } = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        const reply = () => socket.write(`${JSON.stringify({ id })}\n`);
        if (op === 'lock') lock(conn, key, reply);
        else reply(unlock(conn, key));
      }
    });
    socket.on('close', () => closed(conn));
    socket.on('error', () => {});
  });
  server.listen(port, '127.0.0.1');
} else if (kind === 'ws') {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  wss.on('connection', (ws) => {
    const conn = { closed: false };
    ws.on('message', (data) => {
      const { op, id, key } = JSON.parse(String(data));
      const reply = () => ws.send(JSON.stringify({ id }));
      if (op === 'lock') lock(conn, key, reply);
      else reply(unlock(conn, key));
    });
    ws.on('close', () => closed(conn));
  });
} else if (kind === 'socketio') {
  const { Server } = await import('socket.io');
  const { createServer } = await import('node:http');
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  http.listen(port, '127.0.0.1');
  io.on('connection', (socket) => {
    const conn = { closed: false };
    socket.on('lock', (key, ack) => lock(conn, key, () => ack(true)));
    socket.on('unlock', (key, ack) => ack(unlock(conn, key)));
    socket.on('disconnect', () => closed(conn));
  });
} else {
  console.error(`usage: bare-lock-server.js tcp|ws|socketio PORT (got ${kind})`);
  process.exit(2);
}
