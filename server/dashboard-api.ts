/**
 * The dashboard's own endpoints. `/api/whoami`: the role a token stands for,
 * so the page can disable what the caller may not do (the server refuses it
 * anyway). Hang-dumps over HTTP and the feed: the list (with trigger, classification
 * and size), a download per archive, and "take one now" for admins. The
 * dashboard gets the list on subscribing and again whenever a dump is
 * written, classified or removed, so it never polls.
 *
 * A download is looked up by id in the dumper's own index, never by a path
 * taken from the request, so no request can name a file outside the dump
 * directory; the id is checked first with the one definition of a dump id
 * (isDumpId), and the index itself drops a record whose file is not `<id>.tar.gz`.
 */

import { join } from 'node:path';
import express, { type RequestHandler } from 'express';
import { isDumpId } from '../collectors/dump-index.js';
import type { DumpRecord, HangDumper } from '../collectors/index.js';
import { LockError } from '../src/index.js';
import { allow as allowRole } from './allow.js';
import type { Action, Auth } from './auth.js';
import { presentedToken } from './page-cookie.js';
import { obj } from './validate.js';
import type { LockServerIo } from './sockets.js';

export function dumpsRouter(dumper: HangDumper | null, auth: Auth, log: (event: string, fields: Record<string, unknown>) => void): express.Router {
  const r = express.Router();
  const allow = (action: Action): RequestHandler => allowRole(auth, action);
  const need = (): HangDumper => {
    if (dumper === null) throw new LockError('ENOENT', 'this server takes no hang-dumps (start it with a dump directory)');
    return dumper;
  };
  r.get('/api/whoami', (req, res) => {
    const p = auth.identify(presentedToken(req.headers));
    res.json({ role: p.role, name: p.name });
  });
  r.get('/api/dumps', allow('read'), async (req, res) => {
    obj({})({ ...(req.query as Record<string, unknown>) }, 'query'); // nothing to ask: a typo is said, not ignored
    res.json(dumper === null ? [] : await dumper.list());
  });
  r.post('/api/dumps', allow('admin'), async (req, res) => {
    if (req.body !== undefined) obj({})(req.body, 'body');
    const d = need();
    const { id } = await d.dump('manual');
    log('dump-taken', { id });
    res.json({ id });
  });
  r.get('/api/dumps/:id', allow('read'), async (req, res) => {
    const id = String(req.params.id);
    if (!isDumpId(id)) throw new LockError('EINVAL', 'id: a dump id');
    const d = need();
    const rec = (await d.list()).find((x) => x.id === id);
    if (rec === undefined) throw new LockError('ENOENT', `no dump ${id}`);
    res.type('application/gzip');
    res.attachment(rec.file);
    await new Promise<void>((resolve, reject) => res.sendFile(join(d.dir, rec.file), (err) => (err ? reject(err) : resolve())));
  });
  return r;
}
