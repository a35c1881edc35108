/**
 * `lockscope dump --server URL`: ask a running server for a hang-dump
 * (POST /api/dumps, admin) and download the archive it wrote into a local
 * directory, streamed to disk. The token comes from the environment
 * (LOCKSCOPE_ADMIN_TOKEN, else LOCKSCOPE_TOKEN), never the command line,
 * where other users of the machine could read it.
 *
 * The server's answer is input like any other: its id must be a dump id
 * (isDumpId, rule I1) before it names a file, so `../../x` is refused with
 * EPROTO and nothing is written; the download is bounded and written 0600
 * (rule R5), and a partial file is removed when it fails.
 */

import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ARCHIVE_SUFFIX, isDumpId } from '../collectors/dump-index.js';
import { dumpLimits } from '../collectors/limits.js';
import { DumpError } from '../collectors/errors.js';
import type { DumpResult } from '../collectors/index.js';
import { assert } from '../src/assert.js';
import { LockError, type LockErrorCode } from '../src/index.js';

export async function dumpServer(url: string, dir: string, env: NodeJS.ProcessEnv = process.env): Promise<DumpResult> {
  const base = url.replace(/\/+$/, '');
  const token = env.LOCKSCOPE_ADMIN_TOKEN ?? env.LOCKSCOPE_TOKEN;
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const taken = await call(`${base}/api/dumps`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
  const { id } = (await taken.json().catch(() => ({}))) as { id?: unknown };
  if (!isDumpId(id)) throw new DumpError('EPROTO', `the server answered with ${JSON.stringify(id)}, which is not a dump id: nothing was written`);
  const archive = await call(`${base}/api/dumps/${encodeURIComponent(id)}`, { headers });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${id}${ARCHIVE_SUFFIX}`);
  assert(dirname(resolve(path)) === resolve(dir), 'a dump id names a file directly inside --dir');
  const partial = `${path}.partial`;
  try {
    await pipeline(Readable.fromWeb(archive.body as WebReadableStream<Uint8Array>), bounded(dumpLimits.dumpBytesMax), createWriteStream(partial, { mode: 0o600 }));
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return { id, path };
}

/** Passes at most `max` bytes; more is an error (a server that never stops sending would fill the disk). */
function bounded(max: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > max) done(new DumpError('EPROTO', `the archive passed ${max} bytes; a dump is never that big`));
      else done(null, chunk);
    },
  });
}

/**
 * fetch, turning a failure into the dump error the command exits with (collectors/errors.ts): EPERM (10)
 * when the server refused the token, EUNREACHABLE (11) when there was no answer, EIO (9) for any other
 * error the server answered, with its code in the message.
 */
async function call(url: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new DumpError('EUNREACHABLE', `cannot reach ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (res.ok) return res;
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: LockErrorCode; message?: string } };
  const code = body.error?.code;
  // The server's message starts with its code already ("EPERM: a valid token is required").
  const said = body.error?.message ?? `HTTP ${res.status}`;
  if (code === 'EPERM') {
    throw new DumpError('EPERM', `the server refused: ${said.replace(/^EPERM: /, '')} (LOCKSCOPE_ADMIN_TOKEN must hold an admin token)`);
  }
  throw new DumpError('EIO', `the server answered ${code === undefined ? said : said.startsWith(`${code}: `) ? said : `${code}: ${said}`}`);
}
