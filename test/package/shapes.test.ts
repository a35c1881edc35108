/**
 * Shapes apart from behaviour: the dashboard's build reads, of the other
 * layers, only their shape modules, and those hold types and nothing else
 * (no runtime code, imports only of each other's types). A value or an
 * import of a behaviour module added to one would pull the core or the
 * server into the browser's type check, as it did before (~75 files).
 * One runtime module is shared on purpose: the core's posix range algebra
 * (src/ranges.ts), so the page splits and merges pieces by the server's own
 * rules; it imports nothing.
 */

import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const SHAPES = ['collectors/shapes.ts', 'server/cluster/shapes.ts', 'server/protocol.ts', 'src/shapes.ts'];
const SHARED_CODE = ['src/ranges.ts'];

it('the web build type-checks no file of src/, server/ or collectors/ but their shape modules and the range algebra', () => {
  const config = ts.readConfigFile(join(ROOT, 'web', 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, join(ROOT, 'web'));
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const outside = program.getSourceFiles()
    .filter((f) => !f.fileName.split('/').includes('node_modules'))
    .map((f) => relative(ROOT, f.fileName))
    .filter((f) => !f.startsWith('web/'))
    .sort();
  expect(outside).toEqual([...SHAPES, ...SHARED_CODE].sort());
});

it('each shape module holds types only, and imports only other shape modules', () => {
  for (const file of SHAPES) {
    const text = ts.sys.readFile(join(ROOT, file))!;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
    for (const s of source.statements) {
      const where = `${file}: ${s.getText(source).split('\n')[0]}`;
      if (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) continue;
      if (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) {
        const typeOnly = ts.isImportDeclaration(s) ? s.importClause?.isTypeOnly === true : s.isTypeOnly;
        expect(typeOnly, where).toBe(true);
        const spec = (s.moduleSpecifier as ts.StringLiteral).text.replace(/\.js$/, '.ts');
        expect(SHAPES, where).toContain(relative(ROOT, join(ROOT, dirname(file), spec)));
        continue;
      }
      expect.fail(`${where}: not a type`);
    }
  }
});

it('the range algebra the page shares imports nothing', () => {
  for (const file of SHARED_CODE) {
    const source = ts.createSourceFile(file, ts.sys.readFile(join(ROOT, file))!, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
    expect(source.statements.filter((s) => ts.isImportDeclaration(s) || (ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined)), file).toEqual([]);
  }
});
