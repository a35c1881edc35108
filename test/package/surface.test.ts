/**
 * The core's published surface (issue 14, item 1): the declarations a
 * consumer of `lockscope` compiles against name no wait bookkeeping and no
 * internal engine of the manager, and none of an owner's link fields; the
 * public reads the server uses are there; and what is left compiles for a
 * consumer that checks library declarations (`skipLibCheck: false`, tsc's
 * default): stripping what is internal must leave no dangling name.
 *
 * The declarations are built here, in memory, with tsconfig.build.json's
 * options, rather than read from dist/, which may be older than the code.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { beforeAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
/** Where the in-memory build "writes": nothing is on disk there, and module resolution walks up to ROOT/node_modules. */
const OUT = join(ROOT, '.published-declarations');
const published = new Map<string, string>();

const declared = (file: string): string => {
  const text = published.get(join(OUT, 'src', file));
  if (text === undefined) throw new Error(`no declaration emitted for src/${file}`);
  return text;
};
/** LockManager's published declaration: manager.d.ts and the class it extends, ManagerHost (manager-host.d.ts). */
const managerDeclared = (): string => declared('manager.d.ts') + declared('manager-host.d.ts');
/** A member declared in a class body of a .d.ts: `  name(` , `  name:` or `  readonly name:` at the start of a line. */
const member = (text: string, name: string): boolean => new RegExp(`^\\s+(readonly\\s+)?${name}[(<:?]`, 'm').test(text);

function format(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' });
}

/** A compiler host that reads the in-memory declarations first, then the disk. */
function hostWithPublished(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const dirs = new Set<string>();
  for (const f of published.keys()) for (let d = dirname(f); d.startsWith(OUT); d = dirname(d)) dirs.add(d);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  const directoryExists = host.directoryExists?.bind(host);
  host.fileExists = (f) => published.has(f) || fileExists(f);
  host.readFile = (f) => published.get(f) ?? readFile(f);
  host.directoryExists = (d) => dirs.has(d) || (directoryExists?.(d) ?? ts.sys.directoryExists(d));
  host.getSourceFile = (f, lang, onError, create) => {
    const text = published.get(f);
    return text === undefined ? getSourceFile(f, lang, onError, create) : ts.createSourceFile(f, text, lang);
  };
  return host;
}

beforeAll(() => {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.build.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  expect(parsed.options.stripInternal, 'tsconfig.build.json strips what is marked @internal').toBe(true);
  const options: ts.CompilerOptions = { ...parsed.options, outDir: OUT, emitDeclarationOnly: true, declarationMap: false, sourceMap: false };
  const program = ts.createProgram({ rootNames: parsed.fileNames, options });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  expect(format(diagnostics)).toBe('');
  const emitted = program.emit(undefined, (f, text) => void published.set(f, text), undefined, true);
  expect(format(emitted.diagnostics)).toBe('');
}, 120_000);

it('LockManager\'s declaration has no wait bookkeeping and no internal engine, and has the public reads', () => {
  const d = managerDeclared();
  for (const name of ['nextId', 'startWait', 'settleWait', 'failWait', 'failMany', 'checkCanAdd', 'grace', 'watchdog', 'detector']) {
    expect(member(d, name), name).toBe(false);
  }
  for (const name of ['graceState', 'reclaimRefusal', 'domainNames', 'hasDomain', 'hangs', 'snapshot']) expect(member(d, name), name).toBe(true);
  expect(d).toMatch(/get inGrace\(\): boolean/);
  expect(d).toMatch(/get detection\(\)/);
});

it('LockManager\'s counts are read-only to its users: getters, no setter, and the counts the engines write are not published', () => {
  const d = managerDeclared();
  expect(d).toMatch(/get lockTotal\(\): number/);
  expect(d).toMatch(/get pendingWaits\(\): number/);
  expect(d).not.toMatch(/set (lockTotal|pendingWaits)\(/);
  for (const name of ['lockTotal', 'pendingWaits', 'lockCount', 'waitCount', 'activeOwners']) expect(member(d, name), name).toBe(false);
  for (const name of ['lockCount', 'waitCount', 'lockTotal', 'pendingWaits']) expect(member(declared('host.d.ts'), name), name).toBe(false);
});

/** What the engines use of the manager and nobody else may: wait bookkeeping, checks, events, the engines themselves. */
const ENGINE_SERVICES = [
  'nextId', 'startWait', 'settleWait', 'failWait', 'failMany', 'abortWait', 'timeOutWait', 'checkCanAdd', 'checkCanWait', 'checkLockCount',
  'checkResource', 'checkGrace', 'checkTokens', 'nextToken', 'extendToken', 'ownerActive', 'captureFor', 'resourceChanged', 'recordDeadlock',
  'callUser', 'lockGranted', 'lockConverted', 'lockReleased', 'posixChanged', 'dlmTable', 'posixTable', 'gated', 'find',
  'grace', 'watchdog', 'detector', 'dlm', 'posix', 'timers', 'domains', 'lockOrder',
];

it('LockManager\'s declaration has none of the services the engines share', () => {
  const d = managerDeclared();
  for (const name of ENGINE_SERVICES) expect(member(d, name), name).toBe(false);
  for (const name of ['handOver', 'advanceTokens', 'waitEdges', 'failDeadlockVictim', 'revokeResources', 'toWall']) expect(member(d, name), name).toBe(true);
});

it('the engines\' host (host.ts), which the published declarations name, carries none of them either', () => {
  const d = declared('host.d.ts');
  for (const name of ENGINE_SERVICES) expect(member(d, name), name).toBe(false);
  expect(member(d, 'toWall')).toBe(true);
});

it('Owner\'s declaration has none of its link fields', () => {
  const d = declared('owner.d.ts');
  for (const name of ['lockCount', 'dlmHead', 'waitHead', 'waitCount', 'searchEpoch', 'posixResources', 'active']) expect(member(d, name), name).toBe(false);
  // Its manager is a constructor parameter still (the class's declaration has its constructor; index.ts exports the type only), but no property.
  expect(d).not.toMatch(/^\s+readonly manager:/m);
  for (const name of ['addDlmLock', 'removeDlmLock', 'adjustPosix', 'addWait', 'removeWait', 'pendingRequests', 'dlmLocks']) expect(member(d, name), name).toBe(false);
  expect(d).toMatch(/get holding\(\): number/);
});

it('Owner and DlmLock are published as types only (received, never constructed); Quota, which its user makes, keeps its constructor but not its bookkeeping', () => {
  const d = declared('index.d.ts');
  expect(d).toMatch(/^export type \{ Owner \} from '\.\/owner\.js';$/m);
  expect(d).toMatch(/^export type \{ DlmLock \} from '\.\/dlm-lock\.js';$/m);
  expect(d).toMatch(/^export \{ Quota \} from '\.\/quota\.js';$/m);
  const q = declared('quota.d.ts');
  for (const name of ['full', 'charge', 'maySearch', 'paySearch', 'count', 'used']) expect(member(q, `(static\\s+)?${name}`), name).toBe(false);
  expect(q).toMatch(/get used\(\): number/);
});

it('the published declarations of every export compile for a consumer that checks library declarations', () => {
  const consumer = join(OUT, 'consumer.ts');
  published.set(consumer, [
    "export * from './src/index.js';",
    "export * as client from './client/index.js';",
    "export * as server from './server/index.js';",
    "export * as dumps from './collectors/index.js';",
    // What the published surface must refuse: each line below fails to compile, or the directive above it does.
    "import { DlmLock, LockManager, Owner, Quota } from './src/index.js';",
    "declare const lm: LockManager;",
    "declare const any: any;",
    "// @ts-expect-error an owner is made by lm.owner(), not constructed",
    "export const o = new Owner(any, any, any, any, any, any);",
    "// @ts-expect-error a lock handle is made by owner.lock(), not constructed",
    "export const l = new DlmLock(any, any, any, any, any, any);",
    "// @ts-expect-error the manager's counts are read-only",
    "lm.lockTotal = 0;",
    "// @ts-expect-error",
    "lm.pendingWaits = 0;",
    "// @ts-expect-error a quota's count is read-only",
    "new Quota('q', 1).used = 0;",
    "// @ts-expect-error its bookkeeping is not published",
    "Quota.charge(null, 1);",
  ].join('\n'));
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
    strict: true, noEmit: true, skipLibCheck: false, types: ['node'],
  };
  const program = ts.createProgram({ rootNames: [consumer], options, host: hostWithPublished(options) });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  expect(format(diagnostics)).toBe('');
  // It did read the published declarations, not sources.
  expect(program.getSourceFile(join(OUT, 'src', 'manager.d.ts'))).toBeDefined();
  expect(program.getSourceFiles().some((f) => f.fileName.startsWith(join(ROOT, 'src')))).toBe(false);
}, 60_000);

it('no core file but index.ts imports manager.ts (the engines know the manager as EngineHost, host.ts): no import cycle through it', () => {
  const src = join(ROOT, 'src');
  const importers = readdirSync(src).filter((f) => f.endsWith('.ts') && /from '\.\/manager\.js'/.test(readFileSync(join(src, f), 'utf8')));
  expect(importers).toEqual(['index.ts']);
});
