/**
 * Tokens and roles. A token is compared in constant time: both sides are
 * hashed to 32 bytes first (so lengths never differ) and every configured
 * token is compared, with no early exit, so timing says nothing about which
 * or how much of a token matched.
 *
 * Roles: `client` takes and releases its own locks; `viewer` reads the API
 * and the dashboard; `admin` does both and may break locks and cancel waits.
 * With no token configured at all the server is open (every caller is an
 * admin), which createServer allows only on a loopback address.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { invalid } from '../src/errors.js';
import { LockError } from '../src/index.js';
import { serverLimits } from './limits.js';
import type { Role } from './protocol.js';

export const ROLES: readonly Role[] = ['client', 'viewer', 'admin'];

export interface TokenSpec {
  token: string;
  role: Role;
  /** Shown in logs instead of the token. */
  name?: string;
}

export interface Principal {
  role: Role;
  name: string;
}

export type Action = 'lock' | 'read' | 'admin';

const ALLOWED: Readonly<Record<Action, readonly Role[]>> = {
  lock: ['client', 'admin'],
  read: ['viewer', 'admin'],
  admin: ['admin'],
};

const TOKEN_CHARS_MIN = 16;
const TOKEN_CHARS_MAX = 512;

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class Auth {
  private readonly entries: { hash: Buffer; principal: Principal }[];

  constructor(tokens: readonly TokenSpec[]) {
    if (tokens.length > serverLimits.tokensMax) throw invalid('tokens', `at most ${serverLimits.tokensMax} tokens`);
    this.entries = tokens.map((t, i) => {
      if (typeof t.token !== 'string' || t.token.length < TOKEN_CHARS_MIN || t.token.length > TOKEN_CHARS_MAX) {
        throw invalid(`tokens[${i}].token`, `a string of ${TOKEN_CHARS_MIN} to ${TOKEN_CHARS_MAX} characters`);
      }
      if (!ROLES.includes(t.role)) throw invalid(`tokens[${i}].role`, `one of ${ROLES.join(', ')}`, t.role);
      return { hash: digest(t.token), principal: { role: t.role, name: t.name ?? `${t.role}-${i + 1}` } };
    });
  }

  /** No token configured: everyone is an admin (loopback only, checked by createServer). */
  get open(): boolean {
    return this.entries.length === 0;
  }

  /** The principal a presented token stands for; EPERM if none. */
  identify(token: unknown): Principal {
    if (this.open) return { role: 'admin', name: 'anonymous' };
    if (typeof token !== 'string' || token.length > TOKEN_CHARS_MAX) throw new LockError('EPERM', 'a valid token is required');
    const h = digest(token);
    let found: Principal | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(e.hash, h) && found === null) found = e.principal;
    }
    if (found === null) throw new LockError('EPERM', 'a valid token is required');
    return found;
  }

  static require(principal: Principal, action: Action): void {
    if (!ALLOWED[action].includes(principal.role)) {
      throw new LockError('EPERM', `role ${principal.role} may not ${action === 'lock' ? 'take locks' : action === 'read' ? 'read the lock state' : 'do this (admin only)'}`);
    }
  }
}

/**
 * A session secret's verifier: what the server keeps (in memory, and in the
 * durable client record) instead of the secret itself. The secret is 256
 * random bits made by the client, so one SHA-256 is enough: no dictionary
 * to search, and a verifier read from the state directory does not let
 * anyone present the secret.
 */
export function verifierOf(secret: string): string {
  return digest(secret).toString('hex');
}

/** Two verifiers compared in constant time; null (no secret given) matches nothing. */
export function sameVerifier(a: string | null, b: string | null): boolean {
  if (a === null || b === null || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** The bearer token of an Authorization header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  return m?.[1];
}
