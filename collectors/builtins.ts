/** The collectors every dump runs, in the order their files appear in the archive. */

import { clientReportsCollector } from './clients.js';
import { locksCollector } from './locks.js';
import { nodeReportCollector } from './node-report.js';
import { osLocksCollector } from './os-locks.js';
import { stacksCollector } from './stacks.js';
import type { Collector } from './types.js';
import { waitForCollector } from './waitfor.js';

export const BUILTIN_COLLECTOR_NAMES = ['locks', 'waitfor', 'stacks', 'node-report', 'eventloop', 'os-locks', 'clients'] as const;

export function builtinCollectors(eventLoop: Collector): Collector[] {
  return [locksCollector, waitForCollector, stacksCollector, nodeReportCollector, eventLoop, osLocksCollector, clientReportsCollector];
}
