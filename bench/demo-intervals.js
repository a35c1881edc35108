// The demo's incident intervals as they happen: runs `lockscope demo` for a
// while and reports, from its log and its dump list, when each staged
// incident began (the slow holder's hang, the vanished client's session
// expiry, the staged ABBA deadlock) and when each hang-dump was written, so
// the intervals the README states can be checked against what the demo does.
//
//   npm run build && node bench/demo-intervals.js [--quick] [--seconds 150]
//
// --quick watches 65 s (every incident at least twice), the default 150 s.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
const at = process.argv.indexOf('--seconds');
const SECONDS = at >= 0 ? Number(process.argv[at + 1]) : process.argv.includes('--quick') ? 65 : 150;

const child = spawn(process.execPath, [CLI, 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const events = [];
let buffered = '';
child.stdout.on('data', (d) => {
  buffered += d.toString();
  const lines = buffered.split('\n');
  buffered = lines.pop();
  for (const l of lines) events.push(JSON.parse(l));
});
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));

const url = events.find((e) => e.event === 'listening').url;
const dumpsDir = events.find((e) => e.event === 'demo-started').dumps;
const dumps = await (await fetch(`${url}/api/dumps`)).json();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
rmSync(dumpsDir, { recursive: true, force: true });

const t0 = Date.parse(events[0].time);
const times = (list) => list.map((t) => (t - t0) / 1000);
const gaps = (ts) => ts.slice(1).map((t, i) => (t - ts[i]).toFixed(1));
const rows = {
  'slow holder (hang of node-1/stat-N)': times(events.filter((e) => e.event === 'hang' && /^node-1\/stat-/.test(e.owner)).map((e) => Date.parse(e.time))),
  'vanished client (node-4 session expired)': times(events.filter((e) => e.event === 'session-expired' && e.client === 'node-4').map((e) => Date.parse(e.time))),
  'staged deadlock (victim node-N/rename-N)': times(events.filter((e) => e.event === 'deadlock' && /\/rename-/.test(e.victim)).map((e) => Date.parse(e.time))),
  'hang-dumps written': times(dumps.map((d) => d.time).sort((a, b) => a - b)),
};
console.log(`lockscope demo for ${SECONDS} s`);
for (const [name, ts] of Object.entries(rows)) {
  console.log(`${name}: at ${ts.map((t) => t.toFixed(1)).join(', ')} s; intervals ${gaps(ts).join(', ')} s`);
}
