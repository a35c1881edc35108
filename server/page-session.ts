/**
 * The dashboard's sign-in: the page trades the token it was given (`#token=`
 * in its URL, or the token box) for an HttpOnly, SameSite=Strict cookie and
 * forgets it. No script on the page, an injected one included, can then
 * read the token; the browser sends it with the page's own REST requests and
 * its feed's WebSocket upgrade. server/README.md ("The dashboard's token")
 * gives the trade-offs against keeping it in page storage; page-cookie.ts
 * reads the cookie back.
 *
 * Programs keep using `Authorization: Bearer` (and the socket.io handshake's
 * `auth.token`); the lock protocol never reads the cookie, so a browser that
 * holds one cannot take locks through it.
 */

import express from 'express';
import { LockError } from '../src/index.js';
import type { Auth } from './auth.js';
import { PAGE_COOKIE } from './page-cookie.js';
import { obj, str } from './validate.js';

// Auth.identify bounds the token's length itself (EPERM beyond it).
const signInBody = obj({ token: str() });

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
