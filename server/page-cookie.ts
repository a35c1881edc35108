/**
 * The dashboard's cookie (page-session.ts sets it) and which token a
 * request presents. Apart from the sign-in route because the feed reads it
 * too, at start-up, and this must not load express (http-app.ts: the HTTP
 * side is built on the first HTTP request).
 */

import type { IncomingHttpHeaders } from 'node:http';
import { bearer } from './auth.js';

export const PAGE_COOKIE = 'lockscope_token';

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
