// Lock-file scan benchmark (issue 18): a directory of 100,000 lock files, 1,000
// of them held by real processes (10 Python processes, 100 fcntl locks each, as
// fasteners takes them), scanned by `lockscope lockfiles scan --json`, and by
// the obvious alternative a user has: `lslocks` (util-linux) joined with `find`
// on the path, in the same run, taking turns.
//
//   npm run build && node bench/lockfiles.js [--files N] [--held N] [--rounds N] [--quick]
//
// Each figure is one command run in its own process (node's start included):
// wall time, CPU time (user + system, which a loaded machine distorts less) and
// peak resident memory (/usr/bin/time). The alternative's
// join is done in this process and timed with it. Goal (issue 18): scan under 5 s,
// memory bounded. Needs /usr/bin/python3, lslocks, find, /usr/bin/time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

// --quick and --peers-only are bench/run.js's arguments for every bench: --quick scans a tenth of the files.
const { values } = parseArgs({
  options: { files: { type: 'string' }, held: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '5' }, quick: { type: 'boolean' }, 'peers-only': { type: 'boolean' } },
});
const FILES = Number(values.files ?? (values.quick ? 10_000 : 100_000));
const HELD = Number(values.held);
const ROUNDS = Number(values.rounds);
const HOLDERS = 10;
const CLI = join(import.meta.dirname, '..', 'dist', 'server', 'cli.js');
const HOLD = `
import fcntl, sys
files = [open(p, 'a') for p in sys.argv[1:]]
for f in files: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
print('ready', flush=True)
sys.stdin.read()
`;

function timed(cmd, args) {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', cmd, ...args], { maxBuffer: 1024 * 1024 * 1024, encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}: ${r.stderr.slice(-500)}`);
  const [kb, user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, cpuMs: (user + sys) * 1000, mb: kb / 1024, out: r.stdout };
}

function lockscope(dir) {
  const r = timed(process.execPath, [CLI, 'lockfiles', 'scan', dir, '--json']);
  const summary = JSON.parse(r.out.trimEnd().split('\n').at(-1));
  if (summary.files !== FILES || summary.held !== HELD) throw new Error(`lockscope saw ${summary.files} files, ${summary.held} held`);
  return { ms: r.ms, cpuMs: r.cpuMs, mb: r.mb };
}

/** lslocks for the holders, find for the files, joined on the path: which file is held by whom. */
function alternative(dir) {
  const locks = timed('/usr/bin/lslocks', ['--json', '--notruncate', '-o', 'PID,COMMAND,TYPE,MODE,START,END,PATH']);
  const files = timed('/usr/bin/find', [dir, '-maxdepth', '1', '-type', 'f', '-printf', '%p\\t%T@\\n']);
  const t = performance.now();
  const byPath = new Map();
  for (const l of JSON.parse(locks.out).locks) byPath.set(l.path, [...(byPath.get(l.path) ?? []), l]);
  let held = 0;
  let n = 0;
  for (const line of files.out.split('\n')) {
    if (line === '') continue;
    n++;
    if (byPath.has(line.slice(0, line.indexOf('\t')))) held++;
  }
  const joinMs = performance.now() - t;
  if (n !== FILES || held !== HELD) throw new Error(`lslocks + find saw ${n} files, ${held} held`);
  return { ms: locks.ms + files.ms + joinMs, cpuMs: locks.cpuMs + files.cpuMs + joinMs, mb: Math.max(locks.mb, files.mb) };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-bench-lockfiles-'));
  const holders = [];
  try {
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (let i = 0; i < FILES; i++) {
      const p = join(dir, `lock-${String(i).padStart(6, '0')}`);
      writeFileSync(p, '');
      if (i % 3 === 0) utimesSync(p, old, old);
    }
    const per = HELD / HOLDERS;
    for (let h = 0; h < HOLDERS; h++) {
      const names = Array.from({ length: per }, (_, k) => join(dir, `lock-${String((h * per + k) * 7).padStart(6, '0')}`));
      const child = spawn('/usr/bin/python3', ['-c', HOLD, ...names], { stdio: ['pipe', 'pipe', 'inherit'] });
      holders.push(child);
      await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
    }
    const lines = { lockscope: [], alternative: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ['lockscope', 'alternative'] : ['alternative', 'lockscope'];
      for (const who of order) lines[who].push(who === 'lockscope' ? lockscope(dir) : alternative(dir));
    }
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
    console.log(`lock-file scan: ${FILES} files, ${HELD} held by ${HOLDERS} processes; ${ROUNDS} alternating rounds, medians (range); ${new Date().toISOString().slice(0, 10)}, commit ${commit}, load average ${loadavg()[0].toFixed(1)}`);
    for (const [who, rs] of Object.entries(lines)) {
      const ms = rs.map((x) => x.ms);
      const cpu = rs.map((x) => x.cpuMs);
      const mb = rs.map((x) => x.mb);
      console.log(`${who.padEnd(12)} wall ${(med(ms) / 1000).toFixed(2)} s (${(Math.min(...ms) / 1000).toFixed(2)}–${(Math.max(...ms) / 1000).toFixed(2)}), ` +
        `CPU ${(med(cpu) / 1000).toFixed(2)} s (${(Math.min(...cpu) / 1000).toFixed(2)}–${(Math.max(...cpu) / 1000).toFixed(2)}), peak RSS ${med(mb).toFixed(0)} MB (max ${Math.max(...mb).toFixed(0)})`);
    }
  } finally {
    for (const c of holders) c.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
