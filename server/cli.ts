#!/usr/bin/env node
/**
 * The `lockscope` command. `lockscope serve [--port 7070] [--host 127.0.0.1]
 * [--config file.json] [--dumps DIR]` runs one bare lock server in the
 * foreground, logging one JSON object per line to stdout, and shuts down
 * cleanly on SIGTERM/SIGINT; SIGUSR2 takes a hang-dump and logs where it
 * went (`signal-dump`). The dashboard is at the server's URL.
 * `lockscope demo` (what `npm start` runs) is the same server with a demo
 * workload in the same process: simulated nodes, staged deadlocks, hangs and
 * hang-dumps. A real server never runs the demo: it would fill a user's lock
 * tables, dashboard and dump directory with fake nodes and incidents.
 */

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LockError } from '../src/index.js';
import { parseCommandArgs, serveOptions } from './config.js';
import { DEFAULT_GRACE_MS, DEFAULT_HOST, DEFAULT_PORT } from './limits.js';
import { errorFields, makeLogger } from './log.js';
import { DEMO, DEMO_DOMAINS } from './demo/config.js';
import type { Demo } from './demo.js';
import { createServer, type LockServer, type ServerOptions } from './server.js';

// Each command loads only what it runs: a restarted server is waited for by every client (the
// demo pulls in the client library, inspect and dump the archive readers, torture its workers).

const SERVE_USAGE = 'usage: lockscope serve [--port N] [--host ADDR] [--config FILE] [--dumps DIR] [--state-dir DIR] [--grace-ms N]\n'
  + '                       [--etcd URL[,URL] --node NAME [--weight N] [--advertise URL] [--cluster NAME] [--lease-ttl S]]';
const DEMO_USAGE = 'usage: lockscope demo [--port N] [--host ADDR] [--config FILE] [--dumps DIR] [--state-dir DIR] [--grace-ms N]';

/** What serve's (and demo's) options mean (shown by `lockscope --help`, `lockscope serve --help`, `lockscope demo --help`). */
const SERVE_OPTIONS = `  --port    port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host    address to listen on (default ${DEFAULT_HOST}; tokens are required elsewhere)
  --config  JSON file: { port, host, node, leaseMs, domains, limits, tokens }
  --dumps   directory for hang-dumps (default ./hangdumps; for demo, a new temporary directory, printed at start)
  --state-dir  durable client records and token high-water: a restart starts a grace period for reclaims
  --grace-ms   how long that grace period lasts unless every client reclaims sooner (default ${DEFAULT_GRACE_MS})
  --etcd    join (or form) a cluster through these etcd endpoints; needs --node, a name unique in the cluster
  --weight  this node's capacity relative to the others (default 1): it masters a share of resources in proportion
  --advertise  the URL clients reach this node at (default the URL it listens on)
  --cluster    the cluster's name, for several clusters on one etcd (default "default")
  --lease-ttl  seconds of etcd lease (default 5, at least 2): a dead node's resources move to the others after it
  environment: LOCKSCOPE_TOKENS="role:token,..." LOCKSCOPE_ADMIN_TOKEN=token`;

const DEMO_OPTIONS = `  demo runs the server with a demo workload in the same process: simulated nodes, a staged deadlock,
  a slow holder that causes a hang and a hang-dump, a client that vanishes (never on a real server)`;

const USAGE = `${SERVE_USAGE}
       ${DEMO_USAGE.slice('usage: '.length)}
       lockscope torture [--clients N] [--duration 20s] [--restart-every 3s] [--state-dir DIR] [--mode mixed|posix|dlm] [--grace-ms N] [--json]
       lockscope torture --cluster N [--kill-every 10s] [--pause-every 0] [--clients N] [--duration 20s] [--mode mixed|posix|dlm] [--json]
       lockscope inspect <archive.tar.gz> [--owner NAME] [--resource KEY] [--cycles] [--json]
       lockscope dump --server URL [--dir DIR] [--json]   (token from LOCKSCOPE_ADMIN_TOKEN)
       lockscope cluster status (--etcd URL[,URL] [--cluster NAME] | --server URL) [--domain D --resource R] [--json]
       lockscope lockfiles scan DIR [--older-than 1h] [--recursive] [--json]
       lockscope lockfiles clean DIR --older-than 1h [--dry-run] [--json]
       lockscope <command> --help

${SERVE_OPTIONS}
${DEMO_OPTIONS}`;

const HELP = new Set(['--help', '-h']);

/** With the demo on: its domains and lease, its short dump rate limit, and a client token for its nodes. */
function withDemo(o: ServerOptions, dumps: string | null): ServerOptions {
  // Made now, not at the first dump: the demo prints this path at start, and it should be there to look in.
  const dir = dumps ?? mkdtempSync(join(tmpdir(), 'lockscope-demo-dumps-'));
  mkdirSync(dir, { recursive: true });
  const names = new Set(DEMO_DOMAINS.map((d) => d.name));
  return {
    ...o,
    domains: [...DEMO_DOMAINS, ...(o.domains ?? []).filter((d) => !names.has(d.name))],
    leaseMs: o.leaseMs ?? DEMO.leaseMs,
    dumps: {
      dir,
      rateLimitMs: DEMO.dumpRateLimitMs, retention: { count: DEMO.dumpsKept },
    },
  };
}

/** Lines (and characters) a turn's log may gather before it is written anyway. */
const LOG_LINES_MAX = 1000;
const LOG_CHARS_MAX = 256 * 1024;

/**
 * Log lines leave together, once per turn of the event loop: stdout is
 * usually a pipe, written synchronously, and a thousand clients coming back
 * after a restart would otherwise cost the server a thousand writes (about
 * 0.2 ms each on a busy machine) while they all wait for it. An exit writes
 * what is gathered first; a SIGKILL loses at most the lines of its last turn.
 */
function stdoutSink(): (line: string) => void {
  let lines: string[] = [];
  let chars = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (lines.length === 0) return;
    const text = lines.join('');
    lines = [];
    chars = 0;
    process.stdout.write(text);
  };
  process.on('exit', flush);
  return (line) => {
    lines.push(`${line}\n`);
    chars += line.length + 1;
    if (lines.length >= LOG_LINES_MAX || chars >= LOG_CHARS_MAX) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** `serve` (a bare server) and `demo` (the same server with the demo workload in this process). */
async function serve(command: 'serve' | 'demo', argv: readonly string[]): Promise<void> {
  const sink = stdoutSink();
  const log = makeLogger(sink);
  const demoOn = command === 'demo';
  const { args, dumps } = parseCommandArgs(command, argv);
  const base = serveOptions(args, process.env);
  const options = demoOn ? withDemo(base, dumps) : { ...base, dumps: { dir: dumps ?? 'hangdumps' } };
  // Handlers first: a signal that arrives while the server starts (it has logged `listening`) must still
  // close it, which releases the state directory, instead of killing the process with the default action.
  let stopping = false;
  let started: Promise<{ server: LockServer; demo: Demo | null }> | null = null;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log('info', 'signal', { signal });
    started!.then(({ server, demo }) => Promise.resolve(demo?.stop()).then(() => server.close())).then(
      () => process.exit(0),
      (err: unknown) => {
        log('error', 'close-failed', errorFields(err));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Node's default for SIGUSR2 ends the process (every client's locks gone): installed before the server starts.
  process.on('SIGUSR2', () => {
    log('info', 'signal', { signal: 'SIGUSR2' });
    void started?.then(({ server }) => signalDump(server, log));
  });
  started = (async () => {
    const server = await createServer({ ...options, log: sink });
    if (!demoOn) {
      process.stderr.write(`lockscope dashboard: ${server.url}/\n`);
      return { server, demo: null };
    }
    const token = (options.tokens ?? []).find((t) => t.role === 'client' || t.role === 'admin')?.token;
    const demo = await (await import('./demo.js')).startDemo(server.url, token === undefined ? {} : { token });
    const dir = options.dumps!.dir;
    log('info', 'demo-started', { nodes: DEMO.nodes, dumps: dir });
    process.stderr.write(`lockscope demo: dashboard at ${server.url}/ with a demo workload (simulated nodes, staged incidents)\n` +
      `lockscope demo: hang-dumps go to ${dir}\n`);
    return { server, demo };
  })();
  await started;
}

/** SIGUSR2: a hang-dump, logged with where it went (a dump in progress for the server's close is still awaited there). */
async function signalDump(server: LockServer, log: ReturnType<typeof makeLogger>): Promise<void> {
  if (server.dumper === null) return log('warn', 'signal-dump-failed', { code: 'ENOENT', error: 'this server takes no hang-dumps' });
  try {
    const { id, path } = await server.dumper.dump('signal');
    log('info', 'signal-dump', { id, path });
  } catch (err) {
    log('error', 'signal-dump-failed', { code: err instanceof LockError ? err.code : 'EIO', ...errorFields(err) });
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'serve' || command === 'demo') {
    // Help is asked for, not a bad argument: stdout, exit status 0, as the other commands do.
    if (rest.some((a) => HELP.has(a))) {
      return void process.stdout.write(command === 'serve' ? `${SERVE_USAGE}\n\n${SERVE_OPTIONS}\n` : `${DEMO_USAGE}\n\n${SERVE_OPTIONS}\n${DEMO_OPTIONS}\n`);
    }
    return serve(command, rest);
  }
  if (command === 'torture') return (await import('./torture.js')).torture(rest);
  const io = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) };
  if (command === 'cluster') {
    process.exitCode = await (await import('./cluster/cli.js')).runCluster(rest, io);
    return;
  }
  if (command === 'inspect') {
    const { runInspect } = await import('../collectors/cli.js');
    process.exitCode = await runInspect(rest, io);
    return;
  }
  if (command === 'lockfiles') {
    const { runLockfiles } = await import('../collectors/lockfiles/cli.js');
    process.exitCode = await runLockfiles(rest, io);
    return;
  }
  if (command === 'dump') {
    const [{ runDump }, { dumpServer }] = await Promise.all([import('../collectors/cli.js'), import('./remote-dump.js')]);
    process.exitCode = await runDump(rest, io, { server: (url, dir) => dumpServer(url, dir) });
    return;
  }
  if (command !== undefined && (HELP.has(command) || command === 'help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  process.stderr.write(`${command === undefined ? '' : `unknown command: ${command}\n`}${USAGE}\n`);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch(async (err: unknown) => {
  if (err instanceof LockError && err.code === 'EINVAL') {
    // Bad arguments or configuration, before anything started: what is wrong and how to call it, without a
    // stack, exit status 2 (as inspect and dump).
    if (process.argv.includes('--json')) {
      process.stderr.write(`${JSON.stringify({ error: err.toJSON() })}\n`);
    } else {
      const command = process.argv[2];
      const usage = command === 'serve' ? SERVE_USAGE : command === 'demo' ? DEMO_USAGE : command === 'torture' ? (await import('./torture.js')).TORTURE_USAGE : null;
      process.stderr.write(`lockscope: ${err.message}${usage === null ? '' : `\n${usage}`}\n`);
    }
    process.exit(2);
  }
  const own = (err as { code?: unknown } | null)?.code;
  const code = err instanceof LockError ? err.code : typeof own === 'string' && /^E[A-Z]+$/.test(own) ? own : 'EIO';
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', event: 'fatal', code, ...errorFields(err) })}\n`);
  process.exit(1);
});
