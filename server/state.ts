/**
 * The server's durable state in `--state-dir`: which clients held locks (not
 * the locks themselves: NFSv4's stable client record, REFERENCE.md) and how
 * far fencing tokens have been reserved. Both survive a crash at any
 * instant, so a restarted server knows whom to wait for in its grace period
 * and never issues a token twice.
 *
 * Files (JSON, one object each):
 *   clients.json  { version, clients: [{ id, principal, since, verifier }] }
 *   tokens.json   { version, reservedTo }
 *   server.lock   { pid, start, host }: the running server's (state-lock.ts)
 *
 * Every write is crash-safe: a temporary file is written and fsynced, then
 * renamed over the old one, then the directory is fsynced so the rename
 * itself is durable. A crash leaves either the old file or the new one,
 * never a torn one. A write that something relies on is synchronous: a
 * client is on disk before its first request reaches the core, and a token
 * block before a token is issued from it. Forgetting a client relies on
 * nothing (a record that outlives its client's locks only makes a grace
 * period wait for it), so removals are written together, a little later: a
 * thousand sessions ending cost one fsync, not a thousand writes of the whole
 * file in the event loop.
 */

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LockError } from '../src/index.js';
import { serverLimits } from './limits.js';
import { StateDirLock } from './state-lock.js';

const FORMAT_VERSION = 1;
const CLIENTS_FILE = 'clients.json';
const TOKENS_FILE = 'tokens.json';

export interface ClientRecord {
  /** The client's own id (it presents the same one on every reconnection). */
  id: string;
  /** Who it connected as: a reclaim under another principal is refused. */
  principal: string;
  /** When it was first recorded (wall-clock ms). */
  since: number;
  /**
   * The verifier (SHA-256, hex) of the client's session secret, never the
   * secret: only a client presenting that secret may use this id, and so
   * reclaim (server/README.md, Sessions rule S4). null in a record written
   * before verifiers were kept: such a client may not reclaim.
   */
  verifier: string | null;
}

const VERIFIER = /^[0-9a-f]{64}$/;

/** Write `text` to `dir/name` so that a crash leaves the old content or the new, whole. */
export function writeFileDurably(dir: string, name: string, text: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  // The rename is a change to the directory: without this, a crash may forget it.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new LockError('EINVAL', `cannot read state file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new LockError('EINVAL', `state file ${path} is not JSON: refusing to start without knowing which clients held locks`);
  }
}

function parseClients(raw: unknown, path: string): ClientRecord[] {
  if (raw === null) return [];
  const c = raw as { version?: unknown; clients?: unknown };
  if (c.version !== FORMAT_VERSION || !Array.isArray(c.clients) || c.clients.length > serverLimits.clientRecordsMax) {
    throw new LockError('EINVAL', `state file ${path} has an unknown format`);
  }
  return c.clients.map((r: Partial<ClientRecord>) => {
    if (typeof r?.id !== 'string' || typeof r.principal !== 'string' || typeof r.since !== 'number' || (r.verifier != null && !VERIFIER.test(String(r.verifier)))) {
      throw new LockError('EINVAL', `state file ${path} has a malformed client record`);
    }
    return { id: r.id, principal: r.principal, since: r.since, verifier: r.verifier ?? null };
  });
}

function parseTokens(raw: unknown, path: string): number {
  if (raw === null) return 0;
  const t = raw as { version?: unknown; reservedTo?: unknown };
  if (t.version !== FORMAT_VERSION || !Number.isSafeInteger(t.reservedTo) || (t.reservedTo as number) < 0) {
    throw new LockError('EINVAL', `state file ${path} has an unknown format`);
  }
  return t.reservedTo as number;
}

/** How long removals wait to be written together. */
const REMOVAL_FLUSH_MS = 200;

export class StateStore {
  private readonly records = new Map<string, ClientRecord>();
  /** Removals not written yet: the file still names these clients (harmless, see above). */
  private flushTimer: NodeJS.Timeout | null = null;
  /** Tokens up to here may have been issued by an earlier run. */
  readonly tokenStart: number;
  /** Clients recorded by the previous run: whom a grace period waits for. */
  readonly recovered: readonly ClientRecord[];
  /** Durable writes done (for tests and the benchmark). */
  writes = 0;

  private readonly lock: StateDirLock;

  /** Takes the directory (EAGAIN while another server runs on it), then reads what the last run left. */
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.lock = StateDirLock.acquire(dir);
    try {
      const clientsPath = join(dir, CLIENTS_FILE);
      this.recovered = parseClients(readJson(clientsPath), clientsPath);
      for (const r of this.recovered) this.records.set(r.id, r);
      const tokensPath = join(dir, TOKENS_FILE);
      this.tokenStart = parseTokens(readJson(tokensPath), tokensPath);
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  /** Server shutdown: pending removals written, the directory free for the next server. */
  close(): void {
    this.flush();
    this.lock.release();
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  get(id: string): ClientRecord | undefined {
    return this.records.get(id);
  }

  get size(): number {
    return this.records.size;
  }

  /** Record a client before it is granted anything; a no-op when it already is. */
  add(id: string, principal: string, verifier: string | null): void {
    if (this.records.has(id)) return;
    if (this.records.size >= serverLimits.clientRecordsMax) {
      throw new LockError('ENOLCK', `limit clientRecordsMax (${serverLimits.clientRecordsMax}) reached`, { limit: 'clientRecordsMax' });
    }
    this.records.set(id, { id, principal, since: Date.now(), verifier });
    // Written now, with any removals still waiting: the caller goes on only once this is on disk.
    this.writeClients();
  }

  /** Forget clients that hold nothing any more: written with the next write, or within REMOVAL_FLUSH_MS. */
  remove(ids: Iterable<string>): void {
    let changed = false;
    for (const id of ids) changed = this.records.delete(id) || changed;
    if (!changed || this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => this.flush(), REMOVAL_FLUSH_MS);
    // A process that exits first leaves records that only make the next grace period wait for them.
    this.flushTimer.unref();
  }

  /** Write pending removals now (server shutdown). */
  flush(): void {
    if (this.flushTimer === null) return;
    this.writeClients();
  }

  /** The core's token reservation: durable before any token up to `upTo` is issued. */
  reserveTokens(upTo: number): void {
    writeFileDurably(this.dir, TOKENS_FILE, JSON.stringify({ version: FORMAT_VERSION, reservedTo: upTo }));
    this.writes++;
  }

  private writeClients(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const clients = [...this.records.values()];
    writeFileDurably(this.dir, CLIENTS_FILE, JSON.stringify({ version: FORMAT_VERSION, clients }));
    this.writes++;
  }
}
