/**
 * `clients/<client>/report.json`: each connected client's own report (its
 * owners and their stacks), gathered by the server through the
 * `clientReports` hook. Reports come from other machines: redacted like ours.
 */

import { segmentNamer } from './format.js';
import { dumpLimits } from './limits.js';
import { redactValue } from './redact.js';
import type { Collector, DumpFile } from './types.js';

export const clientReportsCollector: Collector = {
  name: 'clients',
  deadlineMs: dumpLimits.clientReportsDeadlineMs,
  maxBytes: dumpLimits.clientReportsBytesMax,
  async collect({ clientReports }) {
    if (clientReports === null) return [];
    const reports = await clientReports();
    if (!Array.isArray(reports)) throw new TypeError('clientReports() must resolve to an array of { client, report }');
    const segment = segmentNamer();
    return reports.slice(0, dumpLimits.clientsMax).map((r): DumpFile => ({
      path: `clients/${segment(String(r.client))}/report.json`,
      data: JSON.stringify(redactValue(r.report, []), null, 2) + '\n',
    }));
  },
};
