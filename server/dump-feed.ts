/** The dashboard feed's list of hang-dumps (`/feed`), sent on subscribing and whenever a dump is written, classified or removed. */

import type { HangDumper } from '../collectors/index.js';
import { feedNamespace } from './feed.js';
import type { LockServerIo } from './sockets.js';

/** Keep every dashboard's dump list current. Returns the function that stops it. */
export function feedDumps(io: LockServerIo, dumper: HangDumper | null): () => void {
  const nsp = feedNamespace(io);
  const send = (to: { emit: (typeof nsp)['emit'] }): void => {
    if (dumper === null) to.emit('dumps', []);
    else void dumper.list().then((l) => to.emit('dumps', l), () => {});
  };
  nsp.on('connection', (s) => {
    send(s);
    s.on('refresh', () => send(s));
  });
  if (dumper === null) return () => {};
  const changed = (): void => send(nsp);
  const events = ['dump-written', 'dump-classified', 'dump-removed'] as const;
  for (const e of events) dumper.on(e, changed);
  return () => {
    for (const e of events) dumper.off(e, changed);
  };
}
