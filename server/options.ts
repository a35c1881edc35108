/** createServer's options, checked before anything is built: a bad one is EINVAL naming it and its allowed range. */

import { invalid } from '../src/errors.js';
import { ADJUSTABLE_SERVER_LIMITS, DEFAULT_GRACE_MS, DEFAULT_HOST, DEFAULT_LEASE_MS, defaultBudgets, serverLimits, type AdjustableServerLimits, type Budgets } from './limits.js';
import type { ServerOptions } from './server.js';

export function checkServerLimits(given: unknown): AdjustableServerLimits {
  const out: AdjustableServerLimits = { sessionsMax: serverLimits.sessionsMax, sessionsPerPrincipalMax: serverLimits.sessionsPerPrincipalMax, connectionsMax: serverLimits.connectionsMax };
  if (given === undefined) return out;
  if (given === null || typeof given !== 'object') throw invalid('options.serverLimits', 'an object', given);
  for (const [k, v] of Object.entries(given)) {
    if (!(ADJUSTABLE_SERVER_LIMITS as readonly string[]).includes(k)) throw invalid(`options.serverLimits.${k}`, `one of ${ADJUSTABLE_SERVER_LIMITS.join(', ')}`);
    const max = serverLimits[k as keyof AdjustableServerLimits];
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw invalid(`options.serverLimits.${k}`, `an integer from 1 to ${max}`, v);
    out[k as keyof AdjustableServerLimits] = v as number;
  }
  return out;
}

export function checkServerOptions(options: ServerOptions): { host: string; port: number; leaseMs: number; graceMs: number } {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? 0;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isInteger(graceMs) || graceMs < 1 || graceMs > serverLimits.graceMsMax) {
    throw invalid('options.graceMs', `an integer from 1 to ${serverLimits.graceMsMax}`, graceMs);
  }
  if (options.stateDir != null && (typeof options.stateDir !== 'string' || options.stateDir === '')) {
    throw invalid('options.stateDir', 'a directory path', options.stateDir);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid('options.port', 'an integer from 0 to 65535', port);
  if (!Number.isInteger(leaseMs) || leaseMs < 1 || leaseMs > serverLimits.leaseMsMax) {
    throw invalid('options.leaseMs', `an integer from 1 to ${serverLimits.leaseMsMax}`, leaseMs);
  }
  return { host, port, leaseMs, graceMs };
}

export function checkBudgets(value: unknown): Partial<Budgets> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('options.budgets', 'an object', value);
  const out: Partial<Budgets> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!Object.hasOwn(defaultBudgets, k)) throw invalid(`options.budgets.${k}`, `one of ${Object.keys(defaultBudgets).join(', ')}`);
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(`options.budgets.${k}`, 'a non-negative integer', v);
    out[k as keyof Budgets] = v as number;
  }
  return out;
}
