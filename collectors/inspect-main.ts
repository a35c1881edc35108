#!/usr/bin/env node
/**
 * `node dist/collectors/inspect-main.js inspect <archive> [options]`: the
 * inspect command on its own, usable before (and without) the server's CLI.
 */

import { runInspect } from './cli.js';

const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };
const [command, ...rest] = process.argv.slice(2);
if (command !== 'inspect') {
  io.err('usage: inspect-main.js inspect <archive.tar.gz> [--owner NAME] [--resource KEY] [--cycles] [--json]\n');
  process.exitCode = 2;
} else {
  process.exitCode = await runInspect(rest, io);
}
