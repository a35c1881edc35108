/**
 * A past moment as a Model: the keyframe snapshot, then each stored batch
 * applied with the Model's clock set to the batch's time, so waits and holds
 * read their ages as they were. The same Model code as live, so a paused
 * view cannot disagree with what the live view showed.
 */

import type { HistoryMoment } from '../../server/protocol.js';
import { Model } from './model.js';

export function replayMoment(m: HistoryMoment): Model {
  let cursor = m.keyframeTime;
  const model = new Model(() => cursor);
  model.applySnapshot(m.state.snapshot);
  model.setSessions(m.state.sessions);
  for (const e of m.entries) {
    cursor = e.time;
    if (e.batch !== undefined) model.applyBatch(e.batch);
    if (e.sessions !== undefined) model.setSessions(e.sessions);
  }
  return model;
}
