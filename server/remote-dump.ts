/**
 * `lockscope dump --server URL`: ask a running server for a hang-dump
 * (POST /api/dumps, admin) and download the archive it wrote into a local
 * directory, streamed to disk. The token comes from the environment
 * (LOCKSCOPE_ADMIN_TOKEN, else LOCKSCOPE_TOKEN), never the command line,
 * where other users of the machine could read it.
 */

import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { DumpResult } from '../collectors/index.js';
import { LockError, type LockErrorCode } from '../src/index.js';

export async function dumpServer(url: string, dir: string, env: NodeJS.ProcessEnv = process.env): Promise<DumpResult> {
  const base = url.replace(/\/+$/, '');
  const token = env.LOCKSCOPE_ADMIN_TOKEN ?? env.LOCKSCOPE_TOKEN;
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const taken = await call(`${base}/api/dumps`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
  const { id } = (await taken.json()) as { id: string };
  const archive = await call(`${base}/api/dumps/${encodeURIComponent(id)}`, { headers });
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.tar.gz`);
  const partial = `${path}.partial`;
  await pipeline(Readable.fromWeb(archive.body as WebReadableStream<Uint8Array>), createWriteStream(partial));
  await rename(partial, path);
  return { id, path } as DumpResult;
}

/** fetch, turning an error reply into the LockError the server sent (same code). */
async function call(url: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new LockError('ENOENT', `cannot reach ${url}: ${(err as Error).message}`, {}, { cause: err });
  }
  if (res.ok) return res;
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: LockErrorCode; message?: string } };
  throw new LockError(body.error?.code ?? 'EINVAL', body.error?.message ?? `${url}: HTTP ${res.status}`);
}
