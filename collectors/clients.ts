/**
 * `clients/<client>/report.json`: each connected client's own report (its
 * owners and their stacks), gathered by the server through the
 * `clientReports` hook. Reports come from other machines: stripped and
 * redacted like ours (rule R1), whatever the client already left out.
 */

import { toJson } from './escape.js';
import { segmentNamer } from './format.js';
import { dumpLimits } from './limits.js';
import { stripReport } from './node-report.js';
import type { Collector, DumpFile } from './types.js';

/** The report with its process report (`process`, as lockscope clients send it) stripped. */
function stripped(report: unknown): unknown {
  if (report === null || typeof report !== 'object' || Array.isArray(report)) return report;
  const r = report as Record<string, unknown>;
  const proc = r.process;
  if (proc === null || typeof proc !== 'object' || Array.isArray(proc)) return r;
  return { ...r, process: stripReport(proc as Record<string, unknown>) };
}

export const clientReportsCollector: Collector = {
  name: 'clients',
  deadlineMs: dumpLimits.clientReportsDeadlineMs,
  maxBytes: dumpLimits.clientReportsBytesMax,
  async collect({ clientReports, redact }) {
    if (clientReports === null) return [];
    const reports = await clientReports();
    if (!Array.isArray(reports)) throw new TypeError('clientReports() must resolve to an array of { client, report }');
    const segment = segmentNamer();
    return reports.slice(0, dumpLimits.clientsMax).map((r): DumpFile => ({
      // The client's name is a path inside the archive: redacted too.
      path: `clients/${segment(redact.text(String(r.client)))}/report.json`,
      data: toJson(redact.value(stripped(r.report)), 2) + '\n',
    }));
  },
};
