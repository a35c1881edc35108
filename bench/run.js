// Runs every bench file in bench/ (not bench/lib/, not this file), one after
// the other, each in its own process so that one bench's heap, JIT state and
// leftover timers cannot colour the next one's figures.
//
//   node bench/run.js [--quick] [--peers-only]    (arguments go to every bench)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const self = path.basename(fileURLToPath(import.meta.url));
const files = readdirSync(here, { withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.js') && e.name !== self)
  .map((e) => e.name)
  .sort();

const failed = [];
for (const file of files) {
  console.log(`\n=== bench/${file} ===`);
  // --expose-gc: the memory figures are heap deltas between full collections.
  const result = spawnSync(process.execPath, ['--expose-gc', path.join(here, file), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  if (result.error || result.status !== 0) {
    failed.push(file);
    console.error(`bench/${file} failed: ${result.error?.message ?? `exit ${result.status ?? result.signal}`}`);
  }
}
if (failed.length) {
  console.error(`\n${failed.length} of ${files.length} bench files failed: ${failed.join(', ')}`);
  process.exit(1);
}
