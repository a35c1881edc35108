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
import { DumpError, type DumpResult } from '../collectors/index.js';
import type { LockErrorCode } from '../src/index.js';

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
