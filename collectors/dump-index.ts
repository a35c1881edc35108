/**
 * index.json beside the archives: every dump with its trigger, size and
 * classification. Archives are never rewritten, so a classification that
 * arrives later (the hang resolved, or became persistent) lives here.
 *
 * Written crash-safely: a temporary file, fsync, rename, fsync of the
 * directory; a reader sees the old index or the new one, never half of one.
 * Writes are serialized in this process. If the index is lost or damaged,
 * it is rebuilt from the archive names (classification unknown) rather than
 * failing every later dump. Written 0600 (rule R5).
 *
 * Ids are file names (rule I1): `isDumpId` is the one definition of a good
 * one, checked where an id is made, where the index is read back (a
 * record whose `file` is not `<id>.tar.gz` is dropped, so an edited index
 * cannot point a download elsewhere), by the server for a requested id, and
 * by `dump --server` for the id a server answers.
 */

import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from './archive.js';
import { toJson } from './escape.js';
import { dumpLimits } from './limits.js';
import type { DumpRecord } from './shapes.js';

export const INDEX_FILE = 'index.json';
const INDEX_FORMAT = 'lockscope-dump-index';
export const ARCHIVE_SUFFIX = '.tar.gz';

/** One path segment of safe characters, not hidden (no `.`, `..`, `.partial`), of bounded length. */
const DUMP_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

export function isDumpId(id: unknown): id is string {
  return typeof id === 'string' && DUMP_ID.test(id);
}

interface IndexFile {
  format: typeof INDEX_FORMAT;
  formatVersion: 1;
  dumps: DumpRecord[];
}

export class DumpIndex {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  /** The records of `dir`, oldest first; rebuilt from the archives there when the index is missing or damaged. */
  async load(): Promise<DumpRecord[]> {
    const parsed = await readIndex(this.dir);
    if (parsed !== null) return parsed;
    return rebuild(this.dir);
  }

  /** Persist `records` (a copy is taken now; writes happen in call order). */
  save(records: readonly DumpRecord[]): Promise<void> {
    const body: IndexFile = { format: INDEX_FORMAT, formatVersion: 1, dumps: records.slice(-dumpLimits.indexRecordsMax).map((r) => ({ ...r })) };
    const run = this.chain.then(() => writeAtomically(join(this.dir, INDEX_FILE), toJson(body, 2) + '\n'));
    this.chain = run.catch(() => {});
    return run;
  }
}

/** The index in `dir`, or null when it is missing or not one of ours. */
export async function readIndex(dir: string): Promise<DumpRecord[] | null> {
  let text: string;
  try {
    text = await readFile(join(dir, INDEX_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const body = JSON.parse(text) as Partial<IndexFile>;
    if (body.format !== INDEX_FORMAT || !Array.isArray(body.dumps)) return null;
    return body.dumps.filter((r) => isDumpId(r?.id) && r.file === `${r.id}${ARCHIVE_SUFFIX}`);
  } catch {
    return null;
  }
}

async function rebuild(dir: string): Promise<DumpRecord[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const records: DumpRecord[] = [];
  for (const file of names.filter((n) => n.endsWith(ARCHIVE_SUFFIX) && isDumpId(n.slice(0, -ARCHIVE_SUFFIX.length)))) {
    const st = await stat(join(dir, file)).catch(() => null);
    if (st === null || !st.isFile()) continue;
    records.push({
      id: file.slice(0, -ARCHIVE_SUFFIX.length), file, trigger: 'unknown', node: '', time: st.mtimeMs, bytes: st.size, hang: null, classification: null,
    });
  }
  return records.sort((a, b) => a.time - b.time);
}

export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await fsyncPath(tmp);
  await rename(tmp, path);
  await fsyncPath(join(path, '..'));
}
