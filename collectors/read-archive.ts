/**
 * Reading a hang-dump back, for `inspect` and for tests: open the gzip,
 * read the tar, check the manifest and every file's size and sha256. Each
 * way a file can be wrong has its own code: missing (ENOENT), cut short
 * (ETRUNCATED), damaged (ECORRUPT), not a lockscope dump (EFOREIGN), or a
 * newer format (EVERSION).
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { readIndex } from './dump-index.js';
import { DumpError } from './errors.js';
import { dumpLimits } from './limits.js';
import { DUMP_FORMAT, DUMP_FORMAT_VERSION, type Manifest } from './types.js';
import type { DumpRecord } from './shapes.js';

export interface Dump {
  path: string;
  manifest: Manifest;
  /** Every file of the archive by path, manifest.json included. */
  files: Map<string, Buffer>;
  /** The dump's record in index.json beside the archive (later classification), if there is one. */
  record: DumpRecord | null;
}

export async function readDump(path: string): Promise<Dump> {
  await checkFile(path);
  const files = await readEntries(path);
  const manifest = parseManifest(files);
  verify(manifest, files);
  const records = await readIndex(dirname(path)).catch(() => null);
  const record = records?.find((r) => r.id === manifest.id || r.file === basename(path)) ?? null;
  return { path, manifest, files, record };
}

async function checkFile(path: string): Promise<void> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new DumpError('ENOENT', `cannot read ${path} (${err.code ?? 'error'})`, { cause: err });
  });
  if (!st.isFile()) throw new DumpError('ENOENT', `${path} is not a file`);
  const fh = await open(path, 'r');
  const head = Buffer.alloc(2);
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  // One byte of a gzip header is a download cut short; anything else without the magic is not ours.
  if (st.size === 0 || (st.size === 1 && head[0] === 0x1f)) throw new DumpError('ETRUNCATED', `${path} ends before its gzip header`);
  if (head[0] !== 0x1f || head[1] !== 0x8b) throw new DumpError('EFOREIGN', `${path} is not gzip-compressed (not a lockscope hang-dump)`);
}

async function readEntries(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let tarError: DumpError | null = null;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (files.size >= dumpLimits.inspectEntriesMax || entry.size > dumpLimits.inspectEntryBytesMax || entry.type !== 'File') {
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(entry.path, Buffer.concat(chunks)));
    },
  });
  parser.on('error', (err: Error & { code?: string }) => {
    const truncated = /truncated/i.test(err.message);
    // A tar that went wrong after its first good entry was damaged; one that never started is something else.
    const code = truncated ? 'ETRUNCATED' : files.size > 0 ? 'ECORRUPT' : 'EFOREIGN';
    tarError ??= new DumpError(code, `${path}: ${code === 'EFOREIGN' ? 'not a tar archive' : 'the archive is damaged'} (${err.code ?? err.message})`, { cause: err });
  });
  try {
    await pipeline(createReadStream(path), createGunzip(), parser);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message)) throw new DumpError('ETRUNCATED', `${path} ends early (an interrupted download or write?)`, { cause: err });
    // Damaged compressed data can decompress into garbage the tar parser stops at before gzip's own check runs:
    // "not a tar archive" only if the compressed stream itself is whole.
    if ((tarError as DumpError | null)?.code === 'EFOREIGN' && !(await gzipIntact(path))) {
      throw new DumpError('ECORRUPT', `${path}: the compressed data is damaged`, { cause: err });
    }
    if (tarError !== null) throw tarError;
    if (typeof e.code === 'string' && e.code.startsWith('Z_')) throw new DumpError('ECORRUPT', `${path}: the compressed data is damaged (${e.code})`, { cause: err });
    throw new DumpError('ECORRUPT', `${path}: ${e.message}`, { cause: err });
  }
  if (tarError !== null) throw tarError;
  return files;
}

/** Whether the whole file decompresses, its checksum included. */
async function gzipIntact(path: string): Promise<boolean> {
  try {
    await pipeline(createReadStream(path), createGunzip(), new Writable({ write: (_c, _e, done) => done() }));
    return true;
  } catch {
    return false;
  }
}

function parseManifest(files: Map<string, Buffer>): Manifest {
  const raw = files.get('manifest.json');
  if (raw === undefined) {
    // manifest.json is written last: without it, a file that starts like a dump was cut short.
    if (files.has('summary.txt')) throw new DumpError('ETRUNCATED', 'the archive has no manifest.json: it was cut short');
    throw new DumpError('EFOREIGN', 'no manifest.json: not a lockscope hang-dump');
  }
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(raw.toString('utf8')) as Partial<Manifest>;
  } catch (err) {
    throw new DumpError('ECORRUPT', 'manifest.json is not valid JSON', { cause: err });
  }
  if (m === null || typeof m !== 'object' || m.format !== DUMP_FORMAT) throw new DumpError('EFOREIGN', 'manifest.json is not a lockscope hang-dump manifest');
  if (typeof m.formatVersion !== 'number' || m.formatVersion > DUMP_FORMAT_VERSION) {
    throw new DumpError('EVERSION', `dump format ${String(m.formatVersion)}; this lockscope reads up to ${DUMP_FORMAT_VERSION}`);
  }
  if (!Array.isArray(m.files) || typeof m.id !== 'string') throw new DumpError('ECORRUPT', 'manifest.json lacks its id or file list');
  return m as Manifest;
}

function verify(m: Manifest, files: Map<string, Buffer>): void {
  for (const f of m.files) {
    const data = files.get(f.path);
    if (data === undefined) throw new DumpError('ECORRUPT', `${f.path} is listed in the manifest but missing`);
    if (data.length !== f.size || createHash('sha256').update(data).digest('hex') !== f.sha256) {
      throw new DumpError('ECORRUPT', `${f.path} does not match its size and sha256 in the manifest`);
    }
  }
}
