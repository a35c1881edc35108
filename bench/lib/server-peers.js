// The lock services the server benchmark measures against, each started as
// its own process on loopback and stopped afterwards: lockscope serve,
// redis-server (SET NX PX + compare-and-delete script, the standard
// single-instance Redis lock) and etcd (the etcd3 client's lock).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyCursor } from './throughput.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what} did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(cmd, args, what) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  child.once('error', (err) => { stderr += String(err); });
  return {
    child,
    describe: () => `${what}: ${stderr.trim() || 'no output'}`,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }),
  };
}

/** Each system: start() → { newWorker(key) → { lock(), unlock(), close() }, stop() }. */
export const systems = {
  async lockscope({ stacks, shared, cache = false, transport = undefined }) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-bench-'));
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ domains: [{ name: 'bench', kind: 'dlm' }] }));
    const proc = start(process.execPath, [path.join(root, 'dist/server/cli.js'), 'serve', '--port', String(port), '--config', config], 'lockscope');
    await waitForPort(port, 10_000, 'lockscope');
    const { connect } = await import(path.join(root, 'dist/client/index.js'));
    const url = `http://127.0.0.1:${port}`;
    // shared: every worker is an owner on one connection (one process, many tasks).
    const common = shared ? await connect(url, { name: 'bench', stacks, cache, ...(transport === undefined ? {} : { transport }) }) : null;
    return {
      async newWorker(key) {
        const client = common ?? (await connect(url, { name: 'bench', stacks, cache, ...(transport === undefined ? {} : { transport }) }));
        const owner = client.owner('worker');
        const keys = keyCursor(key);
        let held = null;
        return {
          async lock() { held = await owner.lock('bench', keys.next(), 'EX'); },
          async unlock() { await held.release(); },
          close: async () => {
            if (common === null) await client.close();
          },
        };
      },
      pid: proc.child.pid,
      async stop() {
        await common?.close();
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },

  /** The in-process core (dist/src), in this process: the lock path with no network at all. */
  async core() {
    const { LockManager } = await import(path.join(root, 'dist/src/index.js'));
    const lm = new LockManager({ domains: [{ name: 'bench', kind: 'dlm' }] });
    let n = 0;
    return {
      pid: null,
      async newWorker(key) {
        const owner = lm.owner(`worker-${++n}`);
        const keys = keyCursor(key);
        let cycles = 0;
        let held = null;
        return {
          async lock() { held = await owner.lock('bench', keys.next(), 'EX'); },
          async unlock() {
            held.release();
            // A grant at once resolves in a microtask: without a turn of the event loop now and then the
            // loop would never let the measuring timer fire.
            if (++cycles % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
          },
          close: async () => {},
        };
      },
      async stop() {},
    };
  },

  /** The reference rows: bench/lib/bare-lock-server.js over plain TCP, a plain WebSocket or bare socket.io, a connection per worker. */
  async bare({ transport }) {
    const port = await freePort();
    const proc = start(process.execPath, [path.join(root, 'bench/lib/bare-lock-server.js'), transport, String(port)], `bare ${transport} server`);
    await waitForPort(port, 10_000, `bare ${transport} server`);
    const connectWorker = { tcp: bareTcpWorker, ws: bareWsWorker, socketio: bareSocketioWorker }[transport];
    return {
      newWorker: (key) => connectWorker(port, key),
      pid: proc.child.pid,
      stop: () => proc.stop(),
    };
  },

  async redis({ retryMs }) {
    const port = await freePort();
    const proc = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'redis-server');
    await waitForPort(port, 10_000, 'redis-server');
    const { default: Redis } = await import('ioredis');
    const UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
    let seq = 0;
    return {
      async newWorker(key) {
        const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableAutoPipelining: false });
        await r.connect();
        r.defineCommand('unlockIfOwner', { numberOfKeys: 1, lua: UNLOCK });
        let token = '';
        const keys = keyCursor(key);
        return {
          async lock() {
            token = `${process.pid}:${++seq}`;
            const k = keys.next();
            // No queue in Redis: a client that finds the key taken retries (spins), here after retryMs.
            while ((await r.set(k, token, 'PX', 30_000, 'NX')) !== 'OK') await new Promise((res) => setTimeout(res, retryMs));
          },
          async unlock() { await r.unlockIfOwner(keys.current, token); },
          close: () => r.quit(),
        };
      },
      pid: proc.child.pid,
      stop: () => proc.stop(),
    };
  },

  async etcd({ retryMs }) {
    const [port, peer] = [await freePort(), await freePort()];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'etcd-bench-'));
    const url = `http://127.0.0.1:${port}`;
    const proc = start('etcd', [
      '--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--log-level', 'error',
    ], 'etcd');
    await waitForPort(port, 15_000, 'etcd');
    const { Etcd3, EtcdLockFailedError } = await import('etcd3');
    return {
      pid: proc.child.pid,
      async newWorker(key) {
        const client = new Etcd3({ hosts: url });
        let lock = null;
        const keys = keyCursor(key);
        return {
          async lock() {
            const k = keys.next();
            // etcd3's Lock.acquire() fails at once when the key is held: like Redis, a waiter retries.
            for (;;) {
              lock = client.lock(k);
              try {
                await lock.acquire();
                return;
              } catch (err) {
                if (!(err instanceof EtcdLockFailedError)) throw err;
                await new Promise((res) => setTimeout(res, retryMs));
              }
            }
          },
          async unlock() { await lock.release(); },
          close: async () => client.close(),
        };
      },
      async stop() {
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** A worker of the bare TCP lock server: one JSON message per line, answered by id. */
async function bareTcpWorker(port, key) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.setEncoding('utf8');
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const waiting = new Map();
  let seq = 0;
  let buffered = '';
  socket.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const { id } = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      waiting.get(id)?.();
      waiting.delete(id);
    }
  });
  const send = (op) => new Promise((resolve) => {
    const id = ++seq;
    waiting.set(id, resolve);
    socket.write(`${JSON.stringify({ op, id, key: keys.current })}\n`);
  });
  const keys = keyCursor(key);
  return {
    lock: () => (keys.next(), send('lock')),
    unlock: () => send('unlock'),
    close: () => new Promise((resolve) => socket.end(resolve)),
  };
}

/** A worker of the bare WebSocket lock server: one JSON message per frame, answered by id. */
async function bareWsWorker(port, key) {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const waiting = new Map();
  let seq = 0;
  ws.on('message', (data) => {
    const { id } = JSON.parse(String(data));
    waiting.get(id)?.();
    waiting.delete(id);
  });
  const send = (op) => new Promise((resolve) => {
    const id = ++seq;
    waiting.set(id, resolve);
    ws.send(JSON.stringify({ op, id, key: keys.current }));
  });
  const keys = keyCursor(key);
  return {
    lock: () => (keys.next(), send('lock')),
    unlock: () => send('unlock'),
    close: () => new Promise((resolve) => {
      ws.once('close', resolve);
      ws.close();
    }),
  };
}

/** A worker of the bare socket.io lock server: one event per request, answered by its acknowledgement. */
async function bareSocketioWorker(port, key) {
  const { io } = await import('socket.io-client');
  const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const keys = keyCursor(key);
  return {
    lock: () => socket.emitWithAck('lock', keys.next()),
    unlock: () => socket.emitWithAck('unlock', keys.current),
    close: async () => socket.close(),
  };
}
