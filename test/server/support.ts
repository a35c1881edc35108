/** Shared helpers for the server tests: a real server on a free loopback port, real clients. */

import type { Socket } from 'socket.io-client';
import { connect, type LockClient } from '../../client/index.js';
import type { Transport } from '../../client/transport.js';
import { createServer, type LockServer, type ServerOptions } from '../../server/index.js';
import { TOKEN_SPECS, TOKENS } from '../spec/remote.js';

export { TOKENS };

export const DOMAINS: ServerOptions['domains'] = [
  { name: 'lin', kind: 'dlm' },
  { name: 'data', kind: 'dlm', ranges: true, lvbBytes: 16 },
  { name: 'adv', kind: 'posix' },
];

export function startServer(options: ServerOptions = {}): Promise<LockServer> {
  return createServer({ port: 0, node: 'test', domains: DOMAINS, tokens: TOKEN_SPECS, ...options });
}

export function client(server: LockServer, name: string, token: string = TOKENS.client, transport?: 'ws' | 'socket.io'): Promise<LockClient> {
  return connect(server.url, { token, name, ...(transport === undefined ? {} : { transport }) });
}

/** The client's transport (either kind), to drop and restore its connection as a network failure would. */
export function linkOf(c: LockClient): Transport {
  return (c.conn as unknown as { link: Transport }).link;
}

/** The socket.io socket of a client made with `transport: 'socket.io'`, for tests that speak socket.io themselves. */
export function socketOf(c: LockClient): Socket {
  const socket = (linkOf(c) as unknown as { socket?: Socket }).socket;
  if (socket === undefined) throw new Error('socketOf: this client does not use the socket.io transport');
  return socket;
}

export async function api(server: LockServer, path: string, token: string | null = TOKENS.viewer, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}${path}`, { ...init, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics and other text bodies stay text
  }
  return { status: res.status, body };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll until `check` returns true, or fail after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}
