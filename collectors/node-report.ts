/**
 * `nodes/<node>/report.json`: Node's diagnostic report of this process
 * (process.report.getReport()), without the environment, the network
 * interfaces or anything that looks like a secret.
 */

import { pathSegment } from './format.js';
import { dumpLimits } from './limits.js';
import { redactArgs, redactValue, secretValues } from './redact.js';
import type { Collector } from './types.js';

/** Report fields removed whole: they are sensitive by nature, not by name. */
const HEADER_DROPPED = ['networkInterfaces'];
const TOP_DROPPED = ['environmentVariables'];

export function redactReport(report: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const secrets = secretValues(env);
  const copy: Record<string, unknown> = { ...report };
  for (const k of TOP_DROPPED) delete copy[k];
  if (copy.header !== null && typeof copy.header === 'object') {
    const header: Record<string, unknown> = { ...(copy.header as Record<string, unknown>) };
    for (const k of HEADER_DROPPED) delete header[k];
    if (Array.isArray(header.commandLine)) header.commandLine = redactArgs(header.commandLine.map(String), secrets);
    copy.header = header;
  }
  copy.redacted = { removed: [...TOP_DROPPED, ...HEADER_DROPPED.map((k) => `header.${k}`)], secretsScrubbed: true };
  return redactValue(copy, secrets) as Record<string, unknown>;
}

export const nodeReportCollector: Collector = {
  name: 'node-report',
  deadlineMs: dumpLimits.reportDeadlineMs,
  maxBytes: dumpLimits.reportBytesMax,
  async collect({ snapshot }) {
    const report = process.report.getReport() as unknown as Record<string, unknown>;
    const clean = redactReport(report, process.env);
    return [{ path: `nodes/${pathSegment(snapshot.node)}/report.json`, data: JSON.stringify(clean, null, 2) + '\n' }];
  },
};
