/**
 * The core's published surface (issue 14, item 1): the declarations a
 * consumer of `lockscope` compiles against name no wait bookkeeping and no
 * internal engine of the manager, and none of an owner's link fields; the
 * public reads the server uses are there. Reads dist/, which `npm test`
 * builds before the suite runs.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const DIST = join(import.meta.dirname, '..', '..', 'dist', 'src');
const declared = (file: string): string => readFileSync(join(DIST, file), 'utf8');
/** A member declared in a class body of a .d.ts: `  name(` , `  name:` or `  readonly name:` at the start of a line. */
const member = (text: string, name: string): boolean => new RegExp(`^\\s+(readonly\\s+)?${name}[(<:?]`, 'm').test(text);

it('LockManager\'s declaration has no wait bookkeeping and no internal engine, and has the public reads', () => {
  const d = declared('manager.d.ts');
  for (const name of ['nextId', 'startWait', 'settleWait', 'failWait', 'failMany', 'checkCanAdd', 'grace', 'watchdog', 'detector']) {
    expect(member(d, name), name).toBe(false);
  }
  for (const name of ['graceState', 'reclaimRefusal', 'domainNames', 'hasDomain', 'hangs', 'snapshot']) expect(member(d, name), name).toBe(true);
  expect(d).toMatch(/get inGrace\(\): boolean/);
  expect(d).toMatch(/get detection\(\)/);
});

it('the engines\' host (host.ts), which the published declarations name, carries no wait bookkeeping either', () => {
  const d = declared('host.d.ts');
  for (const name of ['nextId', 'startWait', 'settleWait', 'failWait', 'failMany', 'checkCanAdd']) expect(member(d, name), name).toBe(false);
  expect(member(d, 'checkResource')).toBe(true);
});

it('Owner\'s declaration has none of its link fields', () => {
  const d = declared('owner.d.ts');
  for (const name of ['lockCount', 'dlmHead', 'waitHead', 'searchEpoch', 'posixResources']) expect(member(d, name), name).toBe(false);
  expect(d).toMatch(/get holding\(\): number/);
});

it('no core file but index.ts imports manager.ts (the engines know the manager as EngineHost, host.ts): no import cycle through it', () => {
  const src = join(import.meta.dirname, '..', '..', 'src');
  const importers = readdirSync(src).filter((f) => f.endsWith('.ts') && /from '\.\/manager\.js'/.test(readFileSync(join(src, f), 'utf8')));
  expect(importers).toEqual(['index.ts']);
});
