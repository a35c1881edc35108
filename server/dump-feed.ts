/** The dashboard feed's list of hang-dumps (`/feed`), sent on subscribing and whenever a dump is written, classified or removed. */

import type { DumpRecord, HangDumper } from '../collectors/index.js';
import type { LockServerIo } from './sockets.js';

/** Keep every dashboard's dump list current. Returns the function that stops it. */
export function feedDumps(io: LockServerIo, dumper: HangDumper | null): () => void {
  const nsp = io.of('/feed') as unknown as { emit(e: 'dumps', l: DumpRecord[]): void; on(e: 'connection', f: (s: FeedSocket) => void): void };
  const send = (to: { emit(e: 'dumps', l: DumpRecord[]): void }): void => {
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

interface FeedSocket {
  emit(e: 'dumps', l: DumpRecord[]): void;
  on(e: 'refresh', f: () => void): void;
}
