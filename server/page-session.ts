/**
 * The dashboard's sign-in: the page trades the token it was given (`#token=`
 * in its URL, or the token box) for an HttpOnly, SameSite=Strict cookie and
 * forgets it. No script on the page, an injected one included, can then
 * read the token; the browser sends it with the page's own REST requests and
 * its feed's WebSocket upgrade. server/README.md ("The dashboard's token")
 * gives the trade-offs against keeping it in page storage.
 *
 * Programs keep using `Authorization: Bearer` (and the socket.io handshake's
 * `auth.token`); the lock protocol never reads the cookie, so a browser that
 * holds one cannot take locks through it.
 */

import type { IncomingHttpHeaders } from 'node:http';
import express from 'express';
import { LockError } from '../src/index.js';
import { bearer, type Auth } from './auth.js';
import { obj, str } from './validate.js';

export const PAGE_COOKIE = 'lockscope_token';

// Auth.identify bounds the token's length itself (EPERM beyond it).
const signInBody = obj({ token: str() });

/**
 * The token a request presents: its bearer token, else the dashboard's cookie when the request comes from
 * this server's own page. Browsers attach the cookie to requests that other pages of the same site make
 * (SameSite counts every port of a host as one site), and those requests carry their page's Origin: a
 * cookie arriving with an Origin that is not this server's is ignored, as if there were none.
 */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
  const token = bearer(typeof headers.authorization === 'string' ? headers.authorization : undefined);
  if (token !== undefined) return token;
  const cookie = pageCookie(headers.cookie);
  if (cookie === undefined) return undefined;
  const origin = headers.origin;
  if (origin !== undefined && origin !== `http://${headers.host}` && origin !== `https://${headers.host}`) return undefined;
  return cookie;
}

function pageCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0 || part.slice(0, at).trim() !== PAGE_COOKIE) continue;
    try {
      return decodeURIComponent(part.slice(at + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `Set-Cookie` for the token, or one that clears it. A session cookie: it ends with the browser session. */
function cookie(value: string | null, secure: boolean): string {
  const attrs = `Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  return value === null ? `${PAGE_COOKIE}=; ${attrs}; Max-Age=0` : `${PAGE_COOKIE}=${encodeURIComponent(value)}; ${attrs}`;
}

/**
 * `POST /api/page-session { token }`: a valid token is set as the cookie and the role is answered; an
 * invalid one is EPERM and sets nothing. `DELETE /api/page-session` clears it. JSON only, so another
 * site's page cannot sign a browser in with a form (a cross-origin JSON request needs a preflight that
 * this server never grants).
 */
export function pageSessionRouter(auth: Auth): express.Router {
  const r = express.Router();
  r.post('/api/page-session', (req, res) => {
    if (!req.is('application/json')) throw new LockError('EINVAL', 'body: a JSON object { token }');
    const { token } = signInBody(req.body, 'body');
    const principal = auth.identify(token);
    res.setHeader('set-cookie', cookie(token, req.secure));
    res.json({ role: principal.role, name: principal.name });
  });
  r.delete('/api/page-session', (req, res) => {
    res.setHeader('set-cookie', cookie(null, req.secure));
    res.status(204).end();
  });
  return r;
}
