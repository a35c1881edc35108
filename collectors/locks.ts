/**
 * `locks/<domain>.json`: the lock state of every domain, straight from the
 * snapshot. Written one resource per line, as chunks, so a domain with a
 * million locks is never one string in memory. The snapshot is redacted
 * already (rule R1); characters a terminal acts on are \u escapes (E2).
 */

import type { DomainSnapshot } from '../src/index.js';
import { safeJson } from './escape.js';
import { segmentNamer } from './format.js';
import { dumpLimits } from './limits.js';
import type { Collector, DumpFile } from './types.js';

export const locksCollector: Collector = {
  name: 'locks',
  deadlineMs: dumpLimits.collectorDeadlineMs,
  maxBytes: dumpLimits.locksBytesMax,
  async collect({ snapshot }) {
    const segment = segmentNamer();
    return snapshot.domains.map((d): DumpFile => ({ path: `locks/${segment(d.name)}.json`, data: domainChunks(d) }));
  },
};

function* domainChunks(d: DomainSnapshot): Generator<string> {
  const head = { name: d.name, kind: d.kind, policy: d.policy, resourceCount: d.resources.length };
  yield `${safeJson(JSON.stringify(head)).slice(0, -1)},"resources":[\n`;
  const batch: string[] = [];
  for (let i = 0; i < d.resources.length; i++) {
    batch.push(JSON.stringify(d.resources[i]) + (i + 1 < d.resources.length ? ',\n' : '\n'));
    // Batches keep the number of chunks (and writes) small without building one big string.
    if (batch.length === 256) yield safeJson(batch.splice(0).join(''));
  }
  if (batch.length > 0) yield safeJson(batch.join(''));
  yield ']}\n';
}
