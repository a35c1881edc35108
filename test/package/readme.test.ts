/**
 * The README, followed line by line as a new user does: every config file
 * its commands name exists and is a valid configuration, and the in-process
 * example runs as it stands under the Node this project supports (plain
 * JavaScript, no TypeScript step), printing what the README says it prints.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseServeArgs, serveOptions } from '../../server/config.js';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
// Inside the package (dist is git-ignored), so `import 'lockscope'` resolves to the package itself through its exports.
const EXAMPLE = join(ROOT, 'dist', `readme-example-${process.pid}.mjs`);
afterAll(() => rmSync(EXAMPLE, { force: true }));

/** The first fenced code block after a heading. */
function firstBlockAfter(heading: string): { lang: string; code: string } {
  const at = README.indexOf(`\n${heading}\n`);
  expect(at, heading).toBeGreaterThan(0);
  const m = /\n```(\w*)\n([\s\S]*?)\n```\n/.exec(README.slice(at));
  return { lang: m![1]!, code: m![2]! };
}

it('every --config file the README names exists and is a valid configuration', () => {
  const files = [...README.matchAll(/--config (\S+)/g)].map((m) => m[1]!);
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const options = serveOptions(parseServeArgs(['--config', join(ROOT, f)]), {});
    expect(options.domains?.length, f).toBeGreaterThan(0);
  }
});

it('the in-process example runs in plain JavaScript and prints what the README says', () => {
  const { lang, code } = firstBlockAfter('## In-process: the lock API');
  expect(lang).toBe('js');
  writeFileSync(EXAMPLE, code);
  const r = spawnSync(process.execPath, [EXAMPLE], { encoding: 'utf8', timeout: 15_000 });
  expect(r.status, r.stderr).toBe(0);
  const [token, getlk] = r.stdout.trim().split('\n');
  expect(token).toBe('1n');
  // The README shows the conflicting lock with its holder's pid (12345 there): here the example's own process.
  expect(getlk).toMatch(/^\{ owner: 'job-42', type: 'write', start: 0, len: 100, pid: \d+ \}$/);
  expect(code).toContain("// → { owner: 'job-42', type: 'write', start: 0, len: 100, pid: 12345 }");
});
