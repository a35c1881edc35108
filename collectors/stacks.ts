/**
 * `stacks.txt`: the request-site stack of every holder and waiter, grouped
 * by owner. An idle Node process has no thread stacks worth reading (every
 * task waits on a promise), so the stack captured when each lock was
 * requested is what tells where in the caller's code it was taken.
 * Every line is escaped (rule E1); the snapshot is redacted already (R1).
 */

import type { LockSnapshot, OwnerSnapshot, Snapshot } from '../src/index.js';
import { escapeText } from './escape.js';
import { clockTime, shortStack } from './format.js';
import { dumpLimits } from './limits.js';
import type { Collector } from './types.js';

export const stacksCollector: Collector = {
  name: 'stacks',
  deadlineMs: dumpLimits.collectorDeadlineMs,
  maxBytes: dumpLimits.stacksBytesMax,
  async collect({ snapshot, cwd }) {
    return [{ path: 'stacks.txt', data: stacksText(snapshot, cwd) }];
  },
};

interface Held {
  domain: string;
  resource: string;
  lock: LockSnapshot;
}

export function locksByOwner(s: Snapshot): Map<number, Held[]> {
  const out = new Map<number, Held[]>();
  for (const d of s.domains) {
    for (const r of d.resources) {
      for (const q of [r.granted, r.converting, r.waiting]) {
        for (const lock of q) {
          const list = out.get(lock.ownerId);
          const entry = { domain: d.name, resource: r.name, lock };
          if (list === undefined) out.set(lock.ownerId, [entry]);
          else list.push(entry);
        }
      }
    }
  }
  return out;
}

export function describeLock(h: Held): string {
  const l = h.lock;
  const where = `${h.domain}:${h.resource}${l.range === null ? '' : ` [${l.range.start}, ${l.range.end ?? 'end'})`}`;
  if (l.state === 'granted') return `holds ${l.mode} on ${where}${l.grantedAt === null ? '' : ` since ${clockTime(l.grantedAt)}`}`;
  if (l.state === 'converting') return `holds ${l.mode} on ${where} and waits to convert to ${l.requested} since ${clockTime(l.requestedAt)}`;
  return `waits for ${l.requested} on ${where} since ${clockTime(l.requestedAt)}`;
}

function* stacksText(s: Snapshot, cwd: string): Generator<string> {
  yield `Request-site stacks of every holder and waiter on ${escapeText(s.node)} at ${new Date(s.time).toISOString()} (times UTC), by owner.\n`;
  yield 'Paths are relative to the process\'s working directory when under it.\n';
  const byOwner = locksByOwner(s);
  const owners = new Map<number, OwnerSnapshot>(s.owners.map((o) => [o.id, o]));
  // Most locks share a handful of call sites: format each distinct stack once.
  const formatted = new Map<string | null, string>();
  const framesText = (stack: string | null): string => {
    let text = formatted.get(stack);
    if (text === undefined) {
      const frames = shortStack(stack, cwd, Number.MAX_SAFE_INTEGER);
      text = frames.length === 0 ? '     (no stack captured)\n' : frames.map((f) => `     ${escapeText(f)}\n`).join('');
      formatted.set(stack, text);
    }
    return text;
  };
  const out: string[] = [];
  for (const [id, held] of byOwner) {
    const o = owners.get(id);
    const meta = o?.meta === null || o?.meta === undefined ? '' : ` ${JSON.stringify(o.meta)}`;
    out.push(`\n${escapeText(`== owner ${o?.name ?? held[0]!.lock.owner} (id ${id})${meta}`)}\n`);
    for (const h of held) {
      out.push(`${escapeText(`-- ${describeLock(h)} (lock ${h.lock.id})`)}\n`);
      out.push(framesText(h.lock.stack));
    }
    if (out.length >= 512) yield out.splice(0).join('');
  }
  if (out.length > 0) yield out.join('');
}
