/**
 * Shape checks for everything that arrives from the network, before any of
 * it reaches the lock manager. A schema is a function that returns the value
 * it accepts, rebuilt from scratch (plain objects with only the known keys),
 * or throws EINVAL naming the field. The core then checks meaning (modes,
 * ranges, byte lengths); this layer only guarantees that what the core sees
 * is small, plain and of the expected types.
 *
 * No recursion on user data: schemas are fixed and shallow, so an object
 * nested a thousand deep fails at the first level that does not match.
 */

import { invalid } from '../src/errors.js';
import { serverLimits } from './limits.js';

export type Schema<T> = (value: unknown, path: string) => T;

/** Keys that could reach an object's prototype if copied naively. */
const POISON = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function str(maxChars: number = serverLimits.stringCharsMax): Schema<string> {
  return (v, path) => {
    if (typeof v !== 'string' || v.length > maxChars) throw invalid(path, `a string of at most ${maxChars} characters`, v);
    return v;
  };
}

export function int(min: number, max: number): Schema<number> {
  return (v, path) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(path, `an integer from ${min} to ${max}`, v);
    return v;
  };
}

/** A finite number; its range is the core's to judge (it names the limit). */
export const num: Schema<number> = (v, path) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(path, 'a finite number', v);
  return v;
};

export const bool: Schema<boolean> = (v, path) => {
  if (typeof v !== 'boolean') throw invalid(path, 'a boolean', v);
  return v;
};

export function oneOf<T extends string>(values: readonly T[]): Schema<T> {
  return (v, path) => {
    if (typeof v !== 'string' || !values.includes(v as T)) throw invalid(path, `one of ${values.join(', ')}`, v);
    return v as T;
  };
}

/** Base64 of at most `maxChars` characters. */
export function base64(maxChars: number): Schema<string> {
  return (v, path) => {
    if (typeof v !== 'string' || v.length > maxChars || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
      throw invalid(path, `base64 of at most ${maxChars} characters`, v);
    }
    return v;
  };
}

export function array<T>(item: Schema<T>, maxItems: number): Schema<T[]> {
  return (v, path) => {
    if (!Array.isArray(v) || v.length > maxItems) throw invalid(path, `an array of at most ${maxItems} items`, v);
    return v.map((x, i) => item(x, `${path}[${i}]`));
  };
}

type Shape = Record<string, Schema<unknown>>;
type Out<S extends Shape, O extends keyof S> = { [K in Exclude<keyof S, O>]: ReturnType<S[K]> } & {
  [K in O]?: ReturnType<S[K]>;
};

/** A plain object with exactly these keys (those in `optional` may be absent). Unknown and poisoned keys are EINVAL. */
export function obj<S extends Shape, O extends keyof S = never>(shape: S, optional: readonly O[] = []): Schema<NoInfer<Out<S, O>>> {
  const opt = new Set<string>(optional as readonly string[]);
  const keys = Object.keys(shape);
  return (v, path) => {
    if (!isPlainObject(v)) throw invalid(path, 'a plain object', v);
    for (const key of Object.keys(v)) {
      if (POISON.has(key)) throw invalid(`${path}.${key}`, 'absent (a reserved key)');
      if (!Object.hasOwn(shape, key)) throw invalid(`${path}.${key}`, `absent (known keys: ${keys.join(', ')})`);
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const x = v[key];
      if (x === undefined) {
        if (!opt.has(key)) throw invalid(`${path}.${key}`, 'present');
        continue;
      }
      out[key] = shape[key]!(x, `${path}.${key}`);
    }
    return out as Out<S, O>;
  };
}

/** A plain object with any (non-poisoned) keys, each value checked by `value`. */
export function record<T>(value: Schema<T>, maxKeys: number, keyChars: number = serverLimits.stringCharsMax): Schema<Record<string, T>> {
  return (v, path) => {
    if (!isPlainObject(v)) throw invalid(path, 'a plain object', v);
    const entries = Object.entries(v);
    if (entries.length > maxKeys) throw invalid(path, `an object of at most ${maxKeys} keys`);
    const out: Record<string, T> = {};
    for (const [k, x] of entries) {
      if (POISON.has(k) || k.length > keyChars) throw invalid(`${path}.${k.slice(0, 40)}`, 'absent (a reserved or oversized key)');
      out[k] = value(x, `${path}.${k}`);
    }
    return out;
  };
}

export function union<A, B>(a: Schema<A>, b: Schema<B>): Schema<A | B> {
  return (v, path) => {
    try {
      return a(v, path);
    } catch {
      return b(v, path);
    }
  };
}
