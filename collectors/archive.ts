/**
 * The archive writer: a gzipped tar streamed to disk with archiver. Small
 * files are appended as buffers; big ones (chunked collectors' output) are
 * first spooled to a temporary file while their size and sha256 are
 * computed, so no file and never the whole archive is held in memory.
 * manifest.json goes last, since it lists every other file's hash.
 *
 * Crash safety: the archive is written under a hidden `.partial` name,
 * fsynced, and only then renamed into place, so a dump that is listed is
 * always complete. Every file it creates is the owner's only (mode 0600,
 * rule R5), like the server's state files.
 */

import type { TarArchive } from 'archiver';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { toJson } from './escape.js';
import { dumpLimits } from './limits.js';
import type { CollectorError, DumpFile, Manifest, ManifestFile } from './types.js';

export interface PlannedFile {
  collector: string;
  /** The collector's byte budget, shared by all its files. */
  maxBytes: number;
  file: DumpFile;
}

export interface WriteResult {
  bytes: number;
  manifest: Manifest;
}

class TooBig extends Error {}

/** Write `files` then the manifest `finish` builds from what was written. */
export async function writeArchive(
  path: string,
  files: readonly PlannedFile[],
  finish: (written: ManifestFile[], errors: CollectorError[]) => Manifest,
  errors: CollectorError[],
  date: Date,
): Promise<WriteResult> {
  const partial = join(dirname(path), `.${basename(path)}.partial`);
  const spool = `${partial}.spool`;
  // Loaded when a dump is written, not with the server: archiver is most of what a restarted server would
  // load before it can listen again, and the clients waiting to reclaim are held up by every millisecond of it.
  const { TarArchive } = await import('archiver');
  const archive = new TarArchive({ gzip: true, gzipOptions: { level: dumpLimits.gzipLevel } });
  const out = createWriteStream(partial, { mode: 0o600 });
  let failure: Error | null = null;
  archive.on('error', (err) => (failure ??= err));
  archive.on('warning', (err) => (failure ??= err));
  archive.pipe(out);
  const written: ManifestFile[] = [];
  const used = new Map<string, number>();
  let total = 0;
  try {
    for (const [i, planned] of files.entries()) {
      const budget = Math.min(planned.maxBytes - (used.get(planned.collector) ?? 0), dumpLimits.dumpBytesMax - total);
      const entry = await addFile(archive, planned, budget, join(spool, String(i)), date).catch((err: unknown) => {
        const kind = err instanceof TooBig ? 'size' : 'error';
        errors.push({ collector: planned.collector, kind, path: planned.file.path, message: err instanceof Error ? err.message : String(err) });
        return null;
      });
      if (entry === null) continue;
      used.set(planned.collector, (used.get(planned.collector) ?? 0) + entry.size);
      total += entry.size;
      written.push(entry);
    }
    const manifest = finish(written, errors);
    archive.append(toJson(manifest, 2) + '\n', { name: 'manifest.json', date, mode: 0o600 });
    await archive.finalize();
    await finished(out);
    if (failure !== null) throw failure;
    await fsyncPath(partial);
    await rename(partial, path);
    await fsyncPath(dirname(path));
    return { bytes: (await stat(path)).size, manifest };
  } catch (err) {
    archive.abort();
    out.destroy();
    await rm(partial, { force: true });
    throw err;
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

async function addFile(archive: TarArchive, planned: PlannedFile, budget: number, spoolPath: string, date: Date): Promise<ManifestFile> {
  const { path, data } = planned.file;
  if (typeof data === 'string' || data instanceof Uint8Array) {
    const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (buf.length > budget) throw new TooBig(`${path} is ${buf.length} bytes, over the ${budget} bytes left for it`);
    archive.append(buf, { name: path, date, mode: 0o600 });
    return { path, size: buf.length, sha256: createHash('sha256').update(buf).digest('hex'), collector: planned.collector };
  }
  const { size, sha256 } = await spoolChunks(data, spoolPath, budget, path);
  // With its stats given, archiver queues the file in call order (without, it stats it first and may reorder).
  archive.file(spoolPath, { name: path, date, mode: 0o600, stats: await stat(spoolPath) });
  return { path, size, sha256, collector: planned.collector };
}

/** Write chunks to `file`, hashing and counting as they go; stop at `budget` bytes. */
async function spoolChunks(chunks: Iterable<string> | AsyncIterable<string>, file: string, budget: number, path: string): Promise<{ size: number; sha256: string }> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const hash = createHash('sha256');
  const out = createWriteStream(file, { mode: 0o600 });
  let size = 0;
  try {
    for await (const chunk of chunks) {
      const buf = Buffer.from(chunk);
      size += buf.length;
      if (size > budget) throw new TooBig(`${path} passed the ${budget} bytes left for it`);
      hash.update(buf);
      if (!out.write(buf)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    throw err;
  }
  return { size, sha256: hash.digest('hex') };
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
