// Security benchmark (issue 13, items 1, 5 and 6): what an ordinary client or
// viewer token can do to a lock server. Each scenario runs a fresh
// `lockscope serve --no-demo` child process on loopback and reports:
//
//   viewers   server RSS after viewer connections send lock requests (refused
//             EPERM) carrying 4,096 distinct 8,000-character request sites each
//   flood     server RSS, and locks granted, after two connections of one
//             client token take locks without end (up to a cap)
//   amplify   /healthz latency (median, worst) while one client sends
//             `timeoutMs: 1` requests from an owner others wait on, blocked
//             behind a 20,000-owner wait chain (each request's deadlock search
//             runs out of budget)
//   snapshot  /healthz latency while five viewer loops GET /api/snapshot with
//             200,000 locks held
//   expiry    the longest /healthz latency (≈ the longest event-loop stall)
//             while a session holding many locks expires
//
//   npm run build && node bench/security.js [--quick] [scenario ...]
//
// It uses only the protocol and the HTTP API, so the same file runs against an
// older build (copy it into that checkout's bench/).
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const QUICK = process.argv.includes('--quick');
const CLI = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const TOKENS = { client: 'bench-client-token-0123456789', viewer: 'bench-viewer-token-0123456789' };
const SIZES = {
  viewers: QUICK ? 2 : 8,
  floodCap: QUICK ? 200_000 : 1_200_000,
  chain: QUICK ? 5_000 : 20_000,
  snapshotLocks: QUICK ? 50_000 : 200_000,
  expiryLocks: QUICK ? 100_000 : 500_000,
  seconds: QUICK ? 4 : 10,
};

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(config = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-security-'));
  const file = path.join(dir, 'server.json');
  writeFileSync(file, JSON.stringify({
    domains: [{ name: 'lin', kind: 'dlm' }],
    tokens: [{ token: TOKENS.client, role: 'client', name: 'bench-client' }, { token: TOKENS.viewer, role: 'viewer', name: 'bench-viewer' }],
    ...config,
  }));
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--no-demo', '--port', String(port), '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let exited = null;
  child.once('exit', (code, signal) => (exited = signal ?? code));
  await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('"listening"')) resolve();
    });
    child.once('exit', () => reject(new Error('server exited before listening')));
  });
  child.stdout.resume();
  return { url: `http://127.0.0.1:${port}`, child, exited: () => exited, stop: () => child.kill('SIGKILL') };
}

function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Math.round(Number(m[1]) / 1024);
  } catch {
    return null;
  }
}

/** A raw protocol connection: batches of [key, event, message] items, answers counted by key. */
async function connection(url, token, name) {
  const socket = io(url, { transports: ['websocket'], auth: { token, name }, reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
  });
  const waiting = new Map();
  let key = 0;
  let lost = null;
  // A dropped connection answers everything still pending, so no scenario hangs on it.
  socket.on('disconnect', (reason) => {
    lost = reason;
    for (const done of waiting.values()) done({ error: { code: 'EDISCONNECTED', message: reason } });
    waiting.clear();
  });
  socket.on('m', (items) => {
    for (const it of items) {
      if (it[0] !== 'ack') continue;
      const done = waiting.get(it[1]);
      waiting.delete(it[1]);
      done?.(it[2]);
    }
  });
  return {
    socket,
    /** Send items ([event, message]) as one batch; resolves with their replies. */
    batch(items) {
      if (lost !== null) return Promise.resolve(items.map(() => ({ error: { code: 'EDISCONNECTED', message: lost } })));
      const out = [];
      const replies = items.map(([event, msg]) => {
        const k = ++key;
        out.push([k, event, msg]);
        return new Promise((resolve) => waiting.set(k, resolve));
      });
      socket.emit('m', out);
      return Promise.all(replies);
    },
    close: () => socket.disconnect(),
    lost: () => lost,
  };
}

async function healthz(url) {
  const t0 = performance.now();
  try {
    const r = await fetch(`${url}/healthz`);
    await r.text();
  } catch {
    return Number.POSITIVE_INFINITY;
  }
  return performance.now() - t0;
}

/**
 * /healthz every `gapMs` from a child process of its own (the attack's own
 * work in this process must not delay the probe), until `until` resolves:
 * latencies in ms. `until` is called once the probe runs. The first request,
 * which loads the server's HTTP side, is left out.
 */
async function probe(url, until, gapMs = 20) {
  const child = fork(SELF, ['--probe', url, String(gapMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve) => child.once('message', resolve));
  await until();
  const done = new Promise((resolve) => child.once('message', resolve));
  child.send('stop');
  const out = await done;
  child.kill();
  return out;
}

async function probeProcess(url, gapMs) {
  await healthz(url);
  const out = [];
  let stop = false;
  process.on('message', () => (stop = true));
  process.send('ready');
  while (!stop) {
    out.push(await healthz(url));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  process.send(out);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'no answer');
const sleep = (t) => new Promise((r) => setTimeout(r, t));

/** Take `n` locks (resource names from `prefix`) on connection c with owner oid, 256 per batch, 8 batches in flight. */
async function takeLocks(c, oid, prefix, n, req0 = 1) {
  let granted = 0;
  let refused = null;
  let next = 0;
  const worker = async () => {
    while (next < n && refused === null) {
      const items = [];
      for (let i = 0; i < 256 && next < n; i++, next++) items.push(['lock', { req: req0 + next, oid, domain: 'lin', resource: `${prefix}${next}`, mode: 'EX' }]);
      for (const r of await c.batch(items)) {
        if (r.ok !== undefined) granted++;
        else refused ??= r.error.code + (r.error.limit ? ` (${r.error.limit})` : '');
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { granted, refused };
}

async function viewers() {
  const s = await startServer();
  const before = rssMiB(s.child.pid);
  const site = (v, i) => `    at viewer${v}site${i} (${'x'.repeat(8000)}.js:1:1)`;
  let refused = 0;
  for (let v = 0; v < SIZES.viewers && s.exited() === null; v++) {
    const c = await connection(s.url, TOKENS.viewer, `viewer-${v}`);
    for (let i = 1; i <= 4096; i += 7) {
      const items = [];
      for (let k = i; k < i + 7 && k <= 4096; k++) items.push(['lock', { req: k, oid: 1, domain: 'lin', resource: 'r', mode: 'EX', site: site(v, k), siteId: k }]);
      for (const r of await c.batch(items)) if (r.error?.code === 'EPERM') refused++;
    }
  }
  await sleep(500);
  const after = rssMiB(s.child.pid);
  console.log(`viewers   ${SIZES.viewers} viewer connections, ${refused} requests refused: server RSS ${before} → ${after} MiB (+${after - before})${s.exited() === null ? '' : `; server died (${s.exited()})`}`);
  s.stop();
}

async function flood() {
  const s = await startServer();
  const before = rssMiB(s.child.pid);
  const conns = [await connection(s.url, TOKENS.client, 'flood-1'), await connection(s.url, TOKENS.client, 'flood-2')];
  const results = await Promise.all(conns.map(async (c, i) => {
    await c.batch([['owner', { oid: 1, name: `flood-${i}` }]]);
    return takeLocks(c, 1, `f${i}-`, SIZES.floodCap / 2);
  }));
  const granted = results.reduce((n, r) => n + r.granted, 0);
  const refused = results.map((r) => r.refused).filter((x) => x !== null);
  console.log(`flood     2 connections of one client token: ${granted} locks granted of ${SIZES.floodCap} asked${refused.length ? `, then refused ${refused[0]}` : ''}; server RSS ${before} → ${rssMiB(s.child.pid)} MiB${s.exited() === null ? '' : `; server died (${s.exited()})`}`);
  s.stop();
}

async function amplify() {
  const s = await startServer();
  const quiet = await probe(s.url, () => sleep(2000));
  const setup = await connection(s.url, TOKENS.client, 'chain');
  const W = SIZES.chain;
  // Owners 1..W each hold c<i>; owner i waits for c<i+1>: a chain of W waits, no cycle.
  for (let i = 1; i <= W; i += 256) {
    const items = [];
    for (let k = i; k < i + 256 && k <= W; k++) items.push(['owner', { oid: k, name: `chain-${k}` }], ['lock', { req: k, oid: k, domain: 'lin', resource: `c${k}`, mode: 'EX' }]);
    await setup.batch(items);
  }
  for (let i = 1; i < W; i += 256) {
    const items = [];
    for (let k = i; k < i + 256 && k < W; k++) items.push(['lock', { req: W + k, oid: k, domain: 'lin', resource: `c${k + 1}`, mode: 'EX' }]);
    setup.batch(items);
  }
  await sleep(1000);
  // The attacker's owner holds a0, which another owner waits for; its requests queue behind the chain's head.
  const att = await connection(s.url, TOKENS.client, 'attacker');
  await att.batch([['owner', { oid: 1, name: 'attacker' }], ['owner', { oid: 2, name: 'waiter' }], ['lock', { req: 1, oid: 1, domain: 'lin', resource: 'a0', mode: 'EX' }]]);
  att.batch([['lock', { req: 2, oid: 2, domain: 'lin', resource: 'a0', mode: 'EX' }]]);
  let stop = false;
  let sent = 0;
  let req = 10;
  const attack = async () => {
    while (!stop) {
      const items = [];
      for (let i = 0; i < 20; i++) items.push(['lock', { req: req++, oid: 1, domain: 'lin', resource: 'c1', mode: 'EX', options: { timeoutMs: 1 } }]);
      sent += items.length;
      await att.batch(items);
    }
  };
  const attacks = Promise.all([attack(), attack()]);
  const lat = await probe(s.url, () => sleep(SIZES.seconds * 1000));
  stop = true;
  await attacks;
  console.log(`amplify   /healthz quiet: median ${ms(median(quiet))}; under ${sent} timeoutMs:1 requests behind a ${W}-owner chain in ${SIZES.seconds} s: median ${ms(median(lat))}, worst ${ms(Math.max(...lat))} (${lat.length} probes)`);
  s.stop();
}

async function snapshot() {
  const s = await startServer();
  const c = await connection(s.url, TOKENS.client, 'holder');
  await c.batch([['owner', { oid: 1, name: 'holder' }]]);
  await takeLocks(c, 1, 's', SIZES.snapshotLocks);
  let stop = false;
  let reads = 0;
  let bytes = 0;
  const loop = async () => {
    while (!stop) {
      try {
        const r = await fetch(`${s.url}/api/snapshot`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
        bytes = Math.max(bytes, (await r.text()).length);
        reads++;
      } catch {
        // A keep-alive connection the server closed as it was reused (undici's "other side closed"): ask again.
      }
    }
  };
  const loops = Promise.all(Array.from({ length: 5 }, loop));
  const lat = await probe(s.url, () => sleep(SIZES.seconds * 1000));
  stop = true;
  await loops;
  console.log(`snapshot  /healthz under 5 /api/snapshot loops, ${SIZES.snapshotLocks} locks held: median ${ms(median(lat))}, worst ${ms(Math.max(...lat))}; ${reads} snapshots read, ${(bytes / 1e6).toFixed(1)} MB each`);
  s.stop();
}

async function expiry() {
  // A 10 s lease: heartbeats are a third of it, and a loaded machine's client must keep answering them while it takes its locks.
  const s = await startServer({ leaseMs: 10_000 });
  const c = await connection(s.url, TOKENS.client, 'expiring');
  await c.batch([['owner', { oid: 1, name: 'expiring' }]]);
  const { granted, refused } = await takeLocks(c, 1, 'e', SIZES.expiryLocks);
  const held = async () => {
    const m = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).text();
    return m.split('\n').filter((l) => l.startsWith('lockscope_locks_held{')).reduce((n, l) => n + Number(l.split(' ')[1]), 0);
  };
  const before = await held();
  // The probe runs first; then the connection goes without goodbye, and the lease runs out 10 s later.
  const lat = await probe(s.url, async () => {
    c.close();
    const t0 = Date.now();
    while ((await held()) > 0 && Date.now() - t0 < 120_000) await sleep(500);
    await sleep(500);
  }, 10);
  console.log(`expiry    a session holding ${before} locks (${granted} granted${refused ? `, then ${refused}` : ''}) expires: longest /healthz ${ms(Math.max(...lat))}, median ${ms(median(lat))} (${lat.length} probes)`);
  s.stop();
}

/**
 * `measure` (node --expose-gc bench/security.js measure): heap bytes per
 * remote lock, per waiting request and per registered owner, in a server
 * run in this process, after gc(): what server/README.md's budget defaults
 * are computed from.
 */
async function measure() {
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
  const { createServer: lockServer } = await import('../dist/server/index.js');
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const N = QUICK ? 20_000 : 100_000;
  const s = await lockServer({ port: 0, domains: [{ name: 'lin', kind: 'dlm' }], budgets: { locksPerSessionMax: 10 * N, locksPerPrincipalMax: 10 * N } }).catch(() => lockServer({ port: 0, domains: [{ name: 'lin', kind: 'dlm' }] }));
  const c = await connection(s.url, 'x', 'measure');
  await c.batch([['owner', { oid: 1, name: 'holder' }]]);
  let h0 = heap();
  await takeLocks(c, 1, 'resource-name-', N);
  const perLock = (heap() - h0) / N;
  h0 = heap();
  for (let i = 2; i < N + 2; i += 256) {
    const items = [];
    for (let k = i; k < i + 256 && k < N + 2; k++) items.push(['owner', { oid: k, name: `owner-${k}`, meta: { role: 'worker' } }]);
    await c.batch(items);
  }
  const perOwner = (heap() - h0) / N;
  h0 = heap();
  for (let i = 2; i < N + 2; i += 256) {
    const items = [];
    for (let k = i; k < i + 256 && k < N + 2; k++) items.push(['lock', { req: 10 * N + k, oid: k, domain: 'lin', resource: 'resource-name-0', mode: 'EX' }]);
    c.batch(items);
  }
  await sleep(2000);
  const perWait = (heap() - h0) / N;
  console.log(`measure   heap per remote lock ${Math.round(perLock)} B, per registered owner ${Math.round(perOwner)} B, per waiting request ${Math.round(perWait)} B (N = ${N}); V8 heap limit ${Math.round((await import('node:v8')).getHeapStatistics().heap_size_limit / 2 ** 20)} MiB`);
  c.close();
  await s.close();
}

const ALL = { viewers, flood, amplify, snapshot, expiry };
const EXTRA = { measure };
if (process.argv[2] === '--probe') {
  await probeProcess(process.argv[3], Number(process.argv[4]));
  process.exit(0);
}
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('--'));
console.log(`security bench, ${new Date().toISOString()}${QUICK ? ' (quick)' : ''}, ${CLI}`);
for (const name of chosen.length ? chosen : Object.keys(ALL)) await (ALL[name] ?? EXTRA[name])();
process.exit(0);
