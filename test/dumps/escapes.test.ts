/**
 * Issue 13, item 11: names accept any character, and a dump is read in a
 * terminal. Hostile names (a newline that forges an "all clear" line, ESC
 * sequences that clear the screen or plant a hyperlink, a C1 CSI, a bidi
 * override) are shown escaped in summary.txt, stacks.txt, waitfor.dot,
 * os/locks.txt and in everything `lockscope inspect` prints, while the JSON
 * files and `inspect --json` keep the names exact.
 */

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readTarGz, setup, text } from './support.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/server/cli.js', import.meta.url).pathname;

const FORGED = 'None: nobody is blocked. All clear.';
const HOLDER = `backup\n${FORGED}`;
const WAITER = '\u001b[2J\u001b[Hwriter';
const RESOURCE = '\u001b]8;;https://attacker.example/\u0007inode:12\u001b]8;;\u0007';
const SPOOF = 'report\u202etxt.exe';

/** What a terminal would act on: every C0 control but the newline that ends a line, DEL, C1, bidi controls. */
const ACTS_ON = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

function checkShown(name: string, out: string): void {
  expect(ACTS_ON.exec(out), `${name} has a raw control character`).toBeNull();
  // The forged text is there, escaped, on the holder's line: never a line of its own.
  expect(out.split('\n').some((l) => l.trim() === FORGED || l.startsWith(FORGED)), `${name} has the forged line`).toBe(false);
}

describe('hostile names in human-readable output', () => {
  it('summary.txt, stacks.txt, waitfor.dot and os/locks.txt escape them; the JSON keeps them exact', async () => {
    const { lm, dumper } = await setup();
    const holder = lm.owner(HOLDER, { meta: { note: '\u009b31mred' } });
    await holder.lock('lin', RESOURCE, 'EX');
    await holder.lock('lin', SPOOF, 'EX');
    void lm.owner(WAITER).lock('lin', RESOURCE, 'EX').catch(() => {});
    void lm.owner(WAITER).lock('lin', SPOOF, 'PR').catch(() => {});
    const { path } = await dumper.dump();
    const files = await readTarGz(path);
    for (const name of ['summary.txt', 'stacks.txt', 'waitfor.dot', 'os/locks.txt']) checkShown(name, text(files, name));
    expect(text(files, 'summary.txt')).toContain(`backup\\n${FORGED}`);
    expect(text(files, 'summary.txt')).toContain('\\x1b[2J\\x1b[Hwriter');
    expect(text(files, 'stacks.txt')).toContain('report\\u202etxt.exe');
    expect(text(files, 'stacks.txt')).toContain('{"note":"\\x9b31mred"}');
    // In DOT, the escape's backslash is itself escaped: the label shows `\n`, it does not break the line.
    expect(text(files, 'waitfor.dot')).toContain(`label="backup\\\\n${FORGED}"`);
    for (const name of ['waitfor.json', 'locks/lin.json', 'manifest.json']) {
      const raw = text(files, name);
      expect(/[\u007f-\u009f\u202a-\u202e]/.exec(raw), `${name} has a raw C1 or bidi character`).toBeNull();
    }
    const locks = JSON.parse(text(files, 'locks/lin.json')) as { resources: { name: string }[] };
    expect(locks.resources.map((r) => r.name).sort()).toEqual([RESOURCE, SPOOF].sort());
  });

  it('lockscope inspect escapes what it prints (the summary, an owner, a resource), and --json keeps the names exact', async () => {
    const { lm, dumper } = await setup();
    await lm.owner(HOLDER).lock('lin', RESOURCE, 'EX');
    void lm.owner(WAITER).lock('lin', RESOURCE, 'EX').catch(() => {});
    const { path } = await dumper.dump();
    const outputs = await Promise.all([
      run(process.execPath, [CLI, 'inspect', path]),
      run(process.execPath, [CLI, 'inspect', path, '--owner', HOLDER, '--owner', WAITER]),
      run(process.execPath, [CLI, 'inspect', path, '--resource', RESOURCE, '--cycles']),
    ]);
    for (const [i, o] of outputs.entries()) checkShown(`inspect #${i}`, o.stdout + o.stderr);
    expect(outputs[1]!.stdout).toContain(`owner backup\\n${FORGED}`);
    const json = await run(process.execPath, [CLI, 'inspect', path, '--owner', WAITER, '--json']);
    expect(/[\u001b\u007f-\u009f\u202a-\u202e]/.exec(json.stdout)).toBeNull();
    const answer = JSON.parse(json.stdout) as { owner: string; matches: { waits: { resource: string; blockers: { owner: string }[] }[] }[] };
    expect(answer.owner).toBe(WAITER);
    expect(answer.matches[0]!.waits[0]!.resource).toBe(RESOURCE);
    expect(answer.matches[0]!.waits[0]!.blockers[0]!.owner).toBe(HOLDER);
  });
});
