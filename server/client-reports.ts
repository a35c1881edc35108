/**
 * A hang-dump taken on the server asks every connected client for its own
 * report (its locks as its handles see them, its process report) over its
 * connection, on either transport (`LockLink.ask`), with a deadline. A
 * client that does not answer in time is named in the dump with that fact:
 * one stuck client never stalls the dump.
 */

import type { ClientReport } from '../collectors/index.js';
import { serverLimits } from './limits.js';
import type { Session } from './sessions.js';

export function clientReports(sessions: () => Iterable<Session>, deadlineMs = serverLimits.clientReportMs): () => Promise<ClientReport[]> {
  return () => {
    const asks: Array<Promise<ClientReport>> = [];
    for (const s of sessions()) {
      const link = s.link;
      if (s.state !== 'live' || link === null || !link.connected) continue;
      // The session id keeps two clients of the same name apart.
      const client = `${s.who.client}-${s.id.slice(0, 8)}`;
      asks.push(new Promise<ClientReport>((resolve) => {
        link.ask('report', deadlineMs, (err, report) => {
          resolve({ client, report: err === null ? report : { client: s.who.client, host: s.who.host, error: `no report within ${deadlineMs} ms` } });
        });
      }));
    }
    return Promise.all(asks);
  };
}
