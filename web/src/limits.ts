/** Every bound the dashboard keeps, in one place. */
export const webLimits = Object.freeze({
  /** Deadlocks and ended hangs shown (the server keeps its own bounded history). */
  historyMax: 200,
  /** Wait samples kept per domain for the wait-time chart, and the window it shows. */
  waitSamplesMax: 20_000,
  seriesWindowMs: 5 * 60_000,
  seriesBucketMs: 5_000,
  /** Owners drawn in the wait-for graph (the ones with the most edges first), and edges among them. */
  graphOwnersMax: 400,
  graphEdgesMax: 1_500,
  /** A broken deadlock stays drawn (red, its victim marked) this long after it was found, so a person sees it. */
  deadlockLingerMs: 60_000,
  /** Deadlocks drawn at once while they linger (the newest). */
  deadlocksDrawnMax: 3,
  /** Force layout: simulation steps per redraw (run to rest at once, never animated). */
  forceTicksMax: 300,
  /** Fit-to-view never magnifies past this (a lone edge would fill the panel otherwise). */
  graphFitScaleMax: 1.6,
  /** Lock table row height (px) and rows rendered beyond the visible ones. */
  rowHeightPx: 22,
  rowOverscan: 10,
  /** Views redraw at most this often; events in between are folded into one redraw. */
  renderIntervalMs: 250,
  /** A marker click shows this long after the marked event: past the flush (feedIntervalMs, 250 ms) that stored its batch. */
  markerJumpMs: 500,
  /** Markers drawn on the timeline (the newest), and how often the kept window is fetched again while live. */
  timelineMarkersMax: 500,
  timelineRefreshMs: 5_000,
  /** Owners listed in the who-blocks-whom tree under one root. */
  treeChildrenMax: 50,
  treeRootsMax: 100,
  /** How often the lock-file panel asks for a new scan (the kernel sends no events for file locks). */
  lockFilesPollMs: 5_000,
  /** How often the cluster panel asks for the members and the grace record (a failover takes seconds). */
  clusterPollMs: 2_000,
});
