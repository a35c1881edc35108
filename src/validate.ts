/**
 * Argument checks at the public boundary (Node's validators.js style): each
 * throws EINVAL naming the argument and what is allowed. Nothing past a
 * failed check has changed any state.
 */

import { invalid } from './errors.js';
import { OFFSET_MAX } from './limits.js';

/** UTF-8 length without allocating for the common short ASCII case. */
export function utf8Bytes(s: string): number {
  return s.length < 64 && isAscii(s) ? s.length : Buffer.byteLength(s, 'utf8');
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function checkName(value: unknown, argument: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short strings need no byte count.
  if (typeof value !== 'string' || value.length === 0 || value.length > maxBytes || (value.length * 3 > maxBytes && utf8Bytes(value) > maxBytes)) {
    throw invalid(argument, `a non-empty string of at most ${maxBytes} UTF-8 bytes`, value);
  }
  return value;
}

/** An options object: undefined, or a plain object with only `allowed` keys. */
export function checkOptions(value: unknown, argument: string, allowed: ReadonlySet<string>): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(argument, 'an options object', value);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) throw invalid(`${argument}.${key}`, `one of the known options (${[...allowed].join(', ')})`);
  }
  return value as Record<string, unknown>;
}

export function checkBoolean(value: unknown, argument: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalid(argument, 'a boolean', value);
  return value;
}

export function checkInteger(value: unknown, argument: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(argument, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** A duration in ms; `undefined` stays undefined. */
export function checkDuration(value: unknown, argument: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw invalid(argument, `a number of milliseconds from 0 to ${max}`, value);
  }
  return value;
}

export function checkSignal(value: unknown, argument: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalid(argument, 'an AbortSignal', value);
  return value;
}

export function checkFunction<T extends (...args: never[]) => unknown>(value: unknown, argument: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(argument, 'a function', value);
  return value as T;
}

export function checkEnum<T extends string>(value: unknown, argument: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalid(argument, `one of ${allowed.join(', ')}`, value);
  }
  return value as T;
}

export function checkOffset(value: unknown, argument: string): number {
  return checkInteger(value, argument, 0, OFFSET_MAX);
}
