// The dashboard's history with 10,000 locks held and steady churn, over a full 10-minute window on a
// fake clock (the flushes run back to back, 2,400 of them): the bytes the server keeps (the named
// bound is serverLimits.historyBytesMax), and what a scrub costs: the server's moment JSON, parsing
// it, and the page's own replay of it into a Model (web/src/replay.ts, bundled here with esbuild,
// which vite brings). The server side comes from dist: run `npm run build` first.
//
//   node bench/history.js [--quick]
import { History } from '../dist/server/history.js';
import { serverLimits } from '../dist/server/limits.js';
import { LockManager } from '../dist/src/index.js';

import { build } from 'esbuild';

const bundle = await build({ entryPoints: [new URL('../web/src/replay.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'node', write: false });
const { replayMoment } = await import(`data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`);
const LOCKS = 10_000;
const OWNERS = 1_000;
const CHURN = 200; // lock + release pairs per 250 ms flush: 800/s
const minutes = process.argv.includes('--quick') ? 2 : 10;

let now = Date.now();
const lm = new LockManager({ node: 'bench', domains: [{ name: 'lin', kind: 'dlm' }, { name: 'data', kind: 'dlm', ranges: true }] });
const owners = Array.from({ length: OWNERS }, (_, i) => lm.owner(`task-${i}`));
for (let i = 0; i < LOCKS; i++) await owners[i % OWNERS].lock(i % 2 ? 'lin' : 'data', `res-${i}`, 'PR');
for (let i = 0; i < 200; i++) void owners[(i + 1) % OWNERS].lock('lin', `res-${i * 2 + 1}`, 'EX').catch(() => {});
const h = new History(lm, () => [], { ...serverLimits, feedIntervalMs: 1e9 }, () => now);
const stop = h.start();
global.gc?.();
const heap0 = process.memoryUsage().heapUsed;
const steps = (minutes * 60_000) / serverLimits.feedIntervalMs;
const t0 = performance.now();
for (let s = 0; s < steps; s++) {
  for (let c = 0; c < CHURN; c++) (await owners[c % OWNERS].lock('lin', `churn-${c}`, 'EX')).release();
  now += serverLimits.feedIntervalMs;
  h.flush();
  await h.packed(); // a server's flushes are 250 ms apart: the packing of a closed segment (H7) ends between them
}
const recordMs = performance.now() - t0;
global.gc?.();
const heap1 = process.memoryUsage().heapUsed;
const ix = h.index();
console.log(`keyframe (snapshot of ${LOCKS} locks): ${(JSON.stringify(lm.snapshot()).length / 2 ** 20).toFixed(1)} MiB`);
console.log(`window kept ${((ix.to - ix.from) / 60_000).toFixed(1)} min, ${steps} flushes of ${CHURN * 4} events; kept ${(ix.bytes / 2 ** 20).toFixed(1)} MiB of ${(ix.bytesMax / 2 ** 20).toFixed(0)} MiB; heap +${((heap1 - heap0) / 2 ** 20).toFixed(1)} MiB${global.gc ? '' : ' (run with --expose-gc for a settled figure)'}; recording ${(recordMs / steps).toFixed(2)} ms a flush incl. the churn`);
const scrubs = [];
for (let i = 0; i < 20; i++) {
  const at = ix.from + Math.random() * (ix.to - ix.from);
  const s0 = performance.now();
  const model = replayMoment(JSON.parse(h.momentJson(Math.round(at))));
  scrubs.push(performance.now() - s0);
  if (model.rows.size < LOCKS) throw new Error(`replay shows ${model.rows.size} rows`);
}
scrubs.sort((a, b) => a - b);
console.log(`scrub (moment JSON + parse + replay into the page's Model), 20 random moments: median ${scrubs[10].toFixed(0)} ms, max ${scrubs[19].toFixed(0)} ms`);
stop();
lm.close();
