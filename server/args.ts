/**
 * Command-line flags as `serve`, `demo` and `torture` read them, through
 * node:util's parseArgs (as `inspect`, `dump`, `lockfiles` and `cluster` do):
 * `--flag value` or `--flag=value`, the last one given wins, and anything
 * else (an unknown flag, a bare argument, a flag without its value) is
 * EINVAL naming it. parseArgs runs non-strict so that a value may start with
 * a dash (`--host -x` is the host "-x", as the hand-written parsers took it)
 * and the errors name the flag in lockscope's words; its tokens are checked
 * here against the spec instead.
 */

import { parseArgs } from 'node:util';
import { LockError } from '../src/index.js';

/** Each flag (without its dashes) and whether it takes a value. */
export type FlagSpec = Readonly<Record<string, 'string' | 'boolean'>>;
export type Flags<S extends FlagSpec> = { [K in keyof S]?: S[K] extends 'string' ? string : true };

/** `unknown` words the refusal of a flag (or argument) not in `spec`. */
export function readFlags<S extends FlagSpec>(argv: readonly string[], spec: S, unknown = (flag: string): string => `unknown option ${flag}`): Flags<S> {
  const options = Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, { type }]));
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out: Record<string, string | true> = {};
  for (const t of tokens) {
    if (t.kind === 'positional') throw new LockError('EINVAL', unknown(t.value));
    if (t.kind === 'option-terminator') throw new LockError('EINVAL', unknown('--'));
    if (!Object.hasOwn(spec, t.name)) throw new LockError('EINVAL', unknown(t.rawName));
    if (spec[t.name] === 'boolean') out[t.name] = true;
    else if (t.value === undefined) throw new LockError('EINVAL', `${t.rawName} needs a value`);
    else out[t.name] = t.value;
  }
  return out as Flags<S>;
}
