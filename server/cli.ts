#!/usr/bin/env node
/**
 * The `lockscope` command. `lockscope serve [--port 7070] [--host 127.0.0.1]
 * [--config file.json]` runs one lock server in the foreground, logging one
 * JSON object per line to stdout, and shuts down cleanly on SIGTERM/SIGINT.
 */

import { LockError } from '../src/index.js';
import { parseServeArgs, serveOptions } from './config.js';
import { errorFields, makeLogger } from './log.js';
import { createServer } from './server.js';

const USAGE = `usage: lockscope serve [--port N] [--host ADDR] [--config FILE]

  --port    port to listen on (default 7070; 0 picks a free one)
  --host    address to listen on (default 127.0.0.1; tokens are required elsewhere)
  --config  JSON file: { port, host, node, leaseMs, domains, limits, tokens }
  environment: LOCKSCOPE_TOKENS="role:token,..." LOCKSCOPE_ADMIN_TOKEN=token`;

async function serve(argv: readonly string[]): Promise<void> {
  const sink = (line: string): void => void process.stdout.write(`${line}\n`);
  const log = makeLogger(sink);
  const server = await createServer({ ...serveOptions(parseServeArgs(argv), process.env), log: sink });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log('info', 'signal', { signal });
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log('error', 'close-failed', errorFields(err));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'serve') return serve(rest);
  process.stderr.write(`${command === undefined || command === '--help' ? '' : `unknown command: ${command}\n`}${USAGE}\n`);
  process.exitCode = command === '--help' ? 0 : 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const code = err instanceof LockError ? err.code : 'EIO';
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', event: 'fatal', code, ...errorFields(err) })}\n`);
  process.exit(1);
});
