/**
 * `nodes/<node>/eventloop.json`: the event-loop delay histogram since the
 * previous dump (or since the dumper started). A lock that "hangs" because
 * the loop was blocked looks very different from one that waits on a holder.
 */

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { pathSegment } from './format.js';
import { dumpLimits } from './limits.js';
import type { Collector } from './types.js';

/** Sampling resolution: coarse enough to cost nothing, fine enough to see a 20 ms stall. */
const RESOLUTION_MS = 10;
const PERCENTILES = [50, 90, 99, 99.9] as const;

export interface EventLoopMonitor {
  collector: Collector;
  stop(): void;
}

export function startEventLoopMonitor(wallNow: () => number): EventLoopMonitor {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let since = wallNow();
  const collector: Collector = {
    name: 'eventloop',
    deadlineMs: dumpLimits.collectorDeadlineMs,
    maxBytes: dumpLimits.eventLoopBytesMax,
    async collect({ snapshot }) {
      const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
      const empty = histogram.count === 0;
      const body = {
        unit: 'ms',
        resolutionMs: RESOLUTION_MS,
        since,
        until: wallNow(),
        samples: histogram.count,
        min: empty ? null : ms(histogram.min),
        max: empty ? null : ms(histogram.max),
        mean: empty ? null : ms(histogram.mean),
        stddev: empty ? null : ms(histogram.stddev),
        exceeds: histogram.exceeds,
        percentiles: Object.fromEntries(PERCENTILES.map((p) => [String(p), empty ? null : ms(histogram.percentile(p))])),
      };
      // Each dump shows the period since the previous one: the recent past is what explains a hang.
      histogram.reset();
      since = body.until;
      return [{ path: `nodes/${pathSegment(snapshot.node)}/eventloop.json`, data: JSON.stringify(body, null, 2) + '\n' }];
    },
  };
  return { collector, stop: () => histogram.disable() };
}
