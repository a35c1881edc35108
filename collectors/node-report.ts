/**
 * `nodes/<node>/report.json`: Node's diagnostic report of this process
 * (process.report.getReport()), without the environment, the network
 * interfaces or anything that looks like a secret.
 */

import { toJson } from './escape.js';
import { pathSegment } from './format.js';
import { dumpLimits } from './limits.js';
import { Redactor, secretValues } from './redact.js';
import type { Collector } from './types.js';

/** Report fields removed whole: they are sensitive by nature, not by name. */
const HEADER_DROPPED = ['networkInterfaces'];
const TOP_DROPPED = ['environmentVariables'];

/** A copy of a process report without the parts removed whole (ours, or a client's: it may be an older client that sent them). */
export function stripReport(report: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...report };
  for (const k of TOP_DROPPED) delete copy[k];
  if (copy.header !== null && typeof copy.header === 'object') {
    const header: Record<string, unknown> = { ...(copy.header as Record<string, unknown>) };
    for (const k of HEADER_DROPPED) delete header[k];
    copy.header = header;
  }
  copy.redacted = { removed: [...TOP_DROPPED, ...HEADER_DROPPED.map((k) => `header.${k}`)], secretsScrubbed: true };
  return copy;
}

/** A process report as a dump writes it: stripped, then redacted by key, by value and of `env`'s secrets. */
export function redactReport(report: Record<string, unknown>, env: NodeJS.ProcessEnv, redact: Redactor = new Redactor(secretValues(env))): Record<string, unknown> {
  return redact.value(stripReport(report)) as Record<string, unknown>;
}

export const nodeReportCollector: Collector = {
  name: 'node-report',
  deadlineMs: dumpLimits.reportDeadlineMs,
  maxBytes: dumpLimits.reportBytesMax,
  async collect({ snapshot, redact }) {
    const report = process.report.getReport() as unknown as Record<string, unknown>;
    const clean = redactReport(report, process.env, redact);
    return [{ path: `nodes/${pathSegment(snapshot.node)}/report.json`, data: toJson(clean, 2) + '\n' }];
  },
};
