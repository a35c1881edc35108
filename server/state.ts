/**
 * The server's durable state in `--state-dir`: which clients held locks (not
 * the locks themselves: like an NFSv4 server's stable client record, it only
 * says whom a grace period waits for; the clients know their locks and
 * reclaim them, src/README.md "Grace period and reclaim") and how far
 * fencing tokens have been reserved. Both survive a crash at any
 * instant, so a restarted server knows whom to wait for in its grace period
 * and never issues a token twice.
 *
 * Files (JSON, one object each):
 *   clients.json  { version, tokensReservedTo, clients: [{ id, principal, since, verifier }] }
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
 *
 * Storage rules (server/README.md, "When the state directory cannot be written"):
 *   S1. A failed write (ENOSPC, EROFS, EDQUOT, EIO...) never throws out of a
 *       timer: deferred removals stay pending and are written again every
 *       `stateRetryMs` until a write succeeds (space returned).
 *   S2. A write something relies on fails with LockError EIO and changes
 *       nothing: a client that could not be recorded is not in memory either,
 *       so its request is refused and it holds nothing the record does not know.
 *   S3. While writes fail they are tried at most once per `stateRetryMs` (the
 *       others fail at once without touching the disk), and `health()` says
 *       so; the first success clears it.
 *   S4. clients.json carries the token reservation as of its write; tokens.json
 *       is written first, so a start that finds tokens.json lower (or missing)
 *       knows it was lost or rolled back, and refuses to start rather than
 *       issue fencing tokens again (EINVAL).
 */

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
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

/** Whether the state directory takes writes (S3): shown by /healthz and /metrics. */
export interface StorageHealth {
  writable: boolean;
  /** The failed write's errno code (ENOSPC, EROFS, ...), while not writable. */
  code: string | null;
  /** When writes started failing (wall-clock ms), while not writable. */
  since: number | null;
  /** Writes that failed since the server started. */
  failures: number;
}

/** Told when writes start failing and when they work again (the server logs each once). */
export type StorageListener = (health: StorageHealth, err: unknown) => void;

const VERIFIER = /^[0-9a-f]{64}$/;

/** Write `text` to `dir/name` so that a crash leaves the old content or the new, whole. */
export function writeFileDurably(dir: string, name: string, text: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  } catch (err) {
    // A full disk must not keep a half-written temporary file taking what space is left.
    unlinkQuietly(tmp);
    throw err;
  }
  // The rename is a change to the directory: without this, a crash may forget it.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already, or the directory refuses even this: nothing more to do here.
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

function parseClients(raw: unknown, path: string): { clients: ClientRecord[]; tokensReservedTo: number } {
  if (raw === null) return { clients: [], tokensReservedTo: 0 };
  const c = raw as { version?: unknown; clients?: unknown; tokensReservedTo?: unknown };
  if (c.version !== FORMAT_VERSION || !Array.isArray(c.clients) || c.clients.length > serverLimits.clientRecordsMax) {
    throw new LockError('EINVAL', `state file ${path} has an unknown format`);
  }
  // Absent in files written before S4: nothing to cross-check.
  const tokensReservedTo = c.tokensReservedTo ?? 0;
  if (!Number.isSafeInteger(tokensReservedTo) || (tokensReservedTo as number) < 0) throw new LockError('EINVAL', `state file ${path} has an unknown format`);
  const clients = c.clients.map((r: Partial<ClientRecord>) => {
    if (typeof r?.id !== 'string' || typeof r.principal !== 'string' || typeof r.since !== 'number' || (r.verifier != null && !VERIFIER.test(String(r.verifier)))) {
      throw new LockError('EINVAL', `state file ${path} has a malformed client record`);
    }
    return { id: r.id, principal: r.principal, since: r.since, verifier: r.verifier ?? null };
  });
  return { clients, tokensReservedTo: tokensReservedTo as number };
}

function parseTokens(raw: unknown, path: string): number | null {
  if (raw === null) return null;
  const t = raw as { version?: unknown; reservedTo?: unknown };
  if (t.version !== FORMAT_VERSION || !Number.isSafeInteger(t.reservedTo) || (t.reservedTo as number) < 0) {
    throw new LockError('EINVAL', `state file ${path} has an unknown format`);
  }
  return t.reservedTo as number;
}

/** S4: the record of clients was written after tokens up to `clientsSaw` were reserved; tokens.json must say as much. */
function crossCheck(dir: string, tokens: number | null, clientsSaw: number): number {
  if (tokens === null ? clientsSaw === 0 : tokens >= clientsSaw) return tokens ?? 0;
  const found = tokens === null ? `${TOKENS_FILE} is missing` : `${TOKENS_FILE} says ${tokens}`;
  throw new LockError(
    'EINVAL',
    `state directory ${dir}: ${found}, but ${CLIENTS_FILE} was written after fencing tokens up to ${clientsSaw} were reserved: `
      + `the token record was lost or rolled back, and starting would issue tokens again. Restore ${TOKENS_FILE} `
      + `(reservedTo at least ${clientsSaw}) before starting`,
  );
}

/** How long removals wait to be written together. */
const REMOVAL_FLUSH_MS = 200;

export class StateStore {
  private readonly records = new Map<string, ClientRecord>();
  /** Removals not written yet: the file still names these clients (harmless, see above). */
  private flushTimer: NodeJS.Timeout | null = null;
  /** clients.json differs from `records` (removals pending, or a write failed). */
  private dirty = false;
  /** Tokens up to here may have been issued by an earlier run. */
  readonly tokenStart: number;
  /** How far tokens are durably reserved (what clients.json records, S4). */
  private tokensReservedTo: number;
  /** Clients recorded by the previous run: whom a grace period waits for. */
  readonly recovered: readonly ClientRecord[];
  /** Durable writes done (for tests and the benchmark). */
  writes = 0;
  private readonly storage: StorageHealth = { writable: true, code: null, since: null, failures: 0 };
  /** While writes fail: none is tried before this (S3). */
  private retryAt = 0;
  private listener: StorageListener = () => {};

  private readonly lock: StateDirLock;

  /** Takes the directory (EAGAIN while another server runs on it), then reads what the last run left. */
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.lock = StateDirLock.acquire(dir);
    try {
      const clientsPath = join(dir, CLIENTS_FILE);
      const { clients, tokensReservedTo } = parseClients(readJson(clientsPath), clientsPath);
      this.recovered = clients;
      for (const r of this.recovered) this.records.set(r.id, r);
      const tokensPath = join(dir, TOKENS_FILE);
      this.tokenStart = crossCheck(dir, parseTokens(readJson(tokensPath), tokensPath), tokensReservedTo);
      this.tokensReservedTo = this.tokenStart;
      // Left by a run that died writing: only this server writes here now.
      for (const f of [CLIENTS_FILE, TOKENS_FILE]) unlinkQuietly(join(dir, `.${f}.tmp`));
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  /** Server shutdown: pending removals written (if the disk lets us), the directory free for the next server. */
  close(): void {
    this.flush();
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.lock.release();
  }

  /** Whether writes work (S3); a copy. */
  health(): StorageHealth {
    return { ...this.storage };
  }

  onStorage(listener: StorageListener): void {
    this.listener = listener;
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

  /** Record a client before it is granted anything; a no-op when it already is. EIO when the write fails (S2). */
  add(id: string, principal: string, verifier: string | null): void {
    if (this.records.has(id)) return;
    if (this.records.size >= serverLimits.clientRecordsMax) {
      throw new LockError('ENOLCK', `limit clientRecordsMax (${serverLimits.clientRecordsMax}) reached`, { limit: 'clientRecordsMax' });
    }
    this.records.set(id, { id, principal, since: Date.now(), verifier });
    // Written now, with any removals still waiting: the caller goes on only once this is on disk.
    try {
      this.writeClients();
    } catch (err) {
      this.records.delete(id);
      throw err;
    }
  }

  /** Forget clients that hold nothing any more: written with the next write, or within REMOVAL_FLUSH_MS. */
  remove(ids: Iterable<string>): void {
    let changed = false;
    for (const id of ids) changed = this.records.delete(id) || changed;
    if (!changed) return;
    this.dirty = true;
    this.schedule(REMOVAL_FLUSH_MS);
  }

  /** Write pending removals now (server shutdown, the flush timer); never throws (S1). */
  flush(): void {
    if (!this.dirty) return;
    try {
      this.writeClients();
    } catch {
      // S1: kept dirty; write() has scheduled the next attempt.
    }
  }

  /** The core's token reservation: durable before any token up to `upTo` is issued; EIO when it cannot be (S2). */
  reserveTokens(upTo: number): void {
    this.write(TOKENS_FILE, JSON.stringify({ version: FORMAT_VERSION, reservedTo: upTo }));
    this.tokensReservedTo = upTo;
  }

  private schedule(ms: number): void {
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
      // S1/S3: with nothing of ours pending, a rewrite of the token record probes whether writes work again.
      if (!this.storage.writable && !this.dirty) this.probe();
    }, ms);
    // A process that exits first leaves records that only make the next grace period wait for them.
    this.flushTimer.unref();
  }

  private probe(): void {
    try {
      this.reserveTokens(this.tokensReservedTo);
    } catch {
      // write() has scheduled the next attempt.
    }
  }

  private writeClients(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const clients = [...this.records.values()];
    this.dirty = true;
    this.write(CLIENTS_FILE, JSON.stringify({ version: FORMAT_VERSION, tokensReservedTo: this.tokensReservedTo, clients }));
    this.dirty = false;
  }

  /** One durable write, paced while writes fail (S3); EIO naming the errno when it fails. */
  private write(name: string, text: string): void {
    const now = Date.now();
    let cause: unknown = null;
    if (this.storage.writable || now >= this.retryAt) {
      try {
        writeFileDurably(this.dir, name, text);
      } catch (err) {
        this.failed(err, now);
        cause = err;
      }
      if (cause === null) return this.succeeded();
    }
    // S1: whatever failed (the caller may have cancelled the timer), something tries again even if no request comes.
    this.schedule(Math.max(0, this.retryAt - now));
    throw new LockError('EIO', `the state directory cannot be written (${this.storage.code}): retry later`, {}, { cause });
  }

  private succeeded(): void {
    this.writes++;
    if (!this.storage.writable) {
      Object.assign(this.storage, { writable: true, code: null, since: null });
      this.listener(this.health(), null);
    }
  }

  private failed(err: unknown, now: number): void {
    this.storage.failures++;
    this.retryAt = now + serverLimits.stateRetryMs;
    if (!this.storage.writable) return;
    Object.assign(this.storage, { writable: false, code: (err as NodeJS.ErrnoException).code ?? 'EIO', since: now });
    this.listener(this.health(), err);
  }
}
