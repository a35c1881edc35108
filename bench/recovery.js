// Recovery benchmark: time from a lock server's restart to its first new
// grant, with 1,000 clients holding 100 locks each (100,000 locks) to reclaim.
// The server runs as a child process on a state directory and is killed with
// SIGKILL; the clients (spread over a few processes, as they would be) come
// back, reclaim, and say they are done; grace lifts early and a probe
// client's request, refused with EGRACE meanwhile, is granted. Issue goal:
// under 3 s.
//
//   npm run build && node bench/recovery.js [--quick]
//
// LOCKSCOPE_BENCH_PROF=DIR writes CPU profiles (.cpuprofile) of the restarted
// server and of the client processes to DIR.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../dist/client/index.js';

const QUICK = process.argv.includes('--quick');
const CLIENTS = QUICK ? 100 : 1000;
const LOCKS_PER_CLIENT = 100;
const PROCESSES = 4;
const GOAL_MS = 3000;
const CLI = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
const self = fileURLToPath(import.meta.url);
const PROF = process.env.LOCKSCOPE_BENCH_PROF;
const profArgs = (name) => (PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-interval', '5000', '--cpu-prof-dir', PROF, '--cpu-prof-name', `${name}.cpuprofile`]);

// --- a client process: its share of the clients take their locks, then wait for the reclaims ---
async function clientProcess([url, first, count]) {
  const clients = [];
  let reclaimed = 0;
  let lost = 0;
  for (let i = Number(first); i < Number(first) + Number(count); i++) {
    const c = await connect(url, { name: `bench-${i}`, stacks: false, connectTimeoutMs: 60_000 });
    c.on('reclaim', (r) => {
      reclaimed += r.reclaimed;
      lost += r.lost.length;
      if (--pending === 0) process.send({ type: 'reclaimed', reclaimed, lost });
    });
    const o = c.owner(`o-${i}`);
    const held = [];
    for (let k = 0; k < LOCKS_PER_CLIENT; k++) held.push(o.lock('lin', `c${i}-r${k}`, 'EX'));
    await Promise.all(held);
    clients.push(c);
  }
  let pending = clients.length;
  process.send({ type: 'ready' });
  process.on('message', async (m) => {
    if (m.type !== 'close') return;
    await Promise.all(clients.map((c) => c.close()));
    process.exit(0);
  });
}

/** CPU time (user + system) a process has used so far, in ms; null where /proc is not there. */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in clock ticks (100 Hz)
  } catch {
    return null;
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Start the server; resolves when it logs `listening`, with its log lines collected in `lines`. */
function startServer(port, config, state, lines, execArgv = []) {
  const child = spawn(process.execPath, [...execArgv, CLI, 'serve', '--no-demo', '--port', String(port), '--config', config, '--state-dir', state], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const l = JSON.parse(line);
          lines.push(l);
          if (l.event === 'listening') resolve(child);
        } catch {
          // the dashboard URL line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-bench-recovery-'));
  const config = path.join(dir, 'server.json');
  writeFileSync(config, JSON.stringify({ domains: [{ name: 'lin', kind: 'dlm' }], leaseMs: 30_000 }));
  const state = path.join(dir, 'state');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const lines = [];
  let server = await startServer(port, config, state, lines);

  const t0 = Date.now();
  const per = Math.ceil(CLIENTS / PROCESSES);
  const procs = [];
  let ready = 0;
  let done = 0;
  const reclaims = { reclaimed: 0, lost: 0 };
  let allReady;
  const readyP = new Promise((r) => (allReady = r));
  let allReclaimed;
  const reclaimedP = new Promise((r) => (allReclaimed = r));
  for (let p = 0; p < PROCESSES; p++) {
    const child = fork(self, ['client', url, String(p * per), String(Math.min(per, CLIENTS - p * per))], { execArgv: profArgs(`client-${p}`) });
    child.on('message', (m) => {
      if (m.type === 'ready' && ++ready === PROCESSES) allReady();
      if (m.type === 'reclaimed') {
        reclaims.reclaimed += m.reclaimed;
        reclaims.lost += m.lost;
        if (++done === PROCESSES) allReclaimed();
      }
    });
    procs.push(child);
  }
  await readyP;
  console.log(`${CLIENTS} clients hold ${CLIENTS * LOCKS_PER_CLIENT} locks (set up in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const probe = await connect(url, { name: 'probe', stacks: false });
  const probeOwner = probe.owner('probe');

  server.kill('SIGKILL');
  await new Promise((r) => server.once('exit', r));
  lines.length = 0;
  const restart = Date.now();
  server = await startServer(port, config, state, lines, profArgs('server'));
  const listening = Date.now() - restart;
  const cpuListening = cpuMs(server.pid);
  const clientCpu0 = procs.map((c) => cpuMs(c.pid));
  // The probe asks as soon as it can; EGRACE is retried by the client until grace lifts.
  await new Promise((r) => { const t = setInterval(() => { if (probe.conn.connected) { clearInterval(t); r(); } }, 5); });
  await probeOwner.lock('lin', 'new-resource', 'EX');
  const firstGrant = Date.now() - restart;
  const cpuGrant = cpuMs(server.pid);
  const clientCpu = procs.reduce((sum, c, i) => sum + (cpuMs(c.pid) ?? 0) - (clientCpu0[i] ?? 0), 0);
  await reclaimedP;
  const grace = lines.find((l) => l.event === 'grace' && l.phase === 'end');

  console.log(`restart → listening           ${listening} ms`);
  console.log(`restart → first new grant     ${firstGrant} ms   (goal < ${GOAL_MS} ms: ${firstGrant < GOAL_MS ? 'met' : 'NOT met'})`);
  if (cpuGrant !== null) {
    console.log(`server CPU                    ${cpuListening} ms to listening, ${cpuGrant} ms to the first grant; clients' CPU meanwhile ${clientCpu} ms`);
  }
  console.log(`load average                  ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`grace                         ${grace.deadline - grace.startedAt} ms, ended ${grace.ended}, ${grace.reclaims} reclaims`);
  console.log(`clients' reclaims             ${reclaims.reclaimed} reclaimed, ${reclaims.lost} lost`);
  const at = (l) => Date.parse(l.time) - restart;
  const sessions = lines.filter((l) => l.event === 'session-created').map(at);
  console.log(`clients back (new sessions)   first ${Math.min(...sessions)} ms, last ${Math.max(...sessions)} ms after the restart`);
  console.log(`grace ended                   ${at(grace)} ms after the restart`);
  for (const c of procs) c.send({ type: 'close' });
  await probe.close();
  await Promise.all(procs.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))));
  server.kill('SIGTERM');
  if (reclaims.lost > 0 || grace.reclaims !== CLIENTS * LOCKS_PER_CLIENT) process.exitCode = 1;
}

if (process.argv[2] === 'client') clientProcess(process.argv.slice(3));
else main().catch((err) => {
  console.error(err);
  process.exit(1);
});
