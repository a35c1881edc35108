/**
 * The dashboard's files: the page vite built into dist/web, served at `/`.
 * The page is static (it reads everything over the feed and the REST API),
 * so it is served as files with no server-side rendering. When the page has
 * not been built, `/` says how to build it instead of answering 404.
 */

import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';

/** dist/web, whether this file runs compiled (dist/server) or from source (server/, under vitest). */
export function defaultWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = dirname(here);
  return basename(root) === 'dist' ? join(root, 'web') : join(root, 'dist', 'web');
}

/**
 * The page runs only its own bundled scripts: no inline script, no event-handler attribute, no eval, so
 * markup that reaches the page from lock, owner or domain names cannot run even where escaping were
 * missed. Inline styles stay allowed (the views position rows with style attributes; a style runs no
 * code). connect-src 'self' covers the feed's WebSocket to this same origin.
 */
const PAGE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
].join('; ');

export function staticRouter(dir: string): express.Router {
  const r = express.Router();
  if (!existsSync(join(dir, 'index.html'))) {
    r.get('/', (_req, res) => {
      res.status(503).type('text/plain').send(`The dashboard is not built (no ${join(dir, 'index.html')}): run npm run build.\n`);
    });
    return r;
  }
  // Hashed asset names change with every build, so they may be cached for good; index.html may not.
  r.use('/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  r.get(['/', '/index.html'], (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('content-security-policy', PAGE_CSP);
    res.sendFile(join(dir, 'index.html'));
  });
  return r;
}
