/**
 * Escaping for what people read (collectors/README.md, "Escaping", rules
 * E1–E3). Owner, resource and domain names, metadata and request sites
 * accept any character, and a dump is read in a terminal: a name with a
 * newline could forge an "all clear" line in summary.txt, one with ESC
 * could clear the screen or plant a hyperlink, one with a bidi override
 * could show a different name than the one it is.
 */

/**
 * What a terminal or a text viewer would act on instead of showing:
 * C0 controls (newline and tab included: a name is one line), DEL, C1
 * controls (U+009B is CSI on its own), the bidi embeddings, overrides and
 * isolates, zero-width and invisible characters, and the line separators.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** The same, less C0: JSON.stringify has escaped those already. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex = (c: string, width: number): string => c.charCodeAt(0).toString(16).padStart(width, '0');

/**
 * One line of human-readable output with every unsafe character shown as an
 * escape: `\n`, `\t`, `\x1b`, `\u202e` (E1). Backslashes are left as they are,
 * so Windows paths stay readable; a name that spells an escape out is still
 * visibly text.
 */
export function escapeText(line: string): string {
  return line.replace(UNSAFE, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** Lines joined with newlines, each escaped: a multi-line text whose only line breaks are its own. */
export function escapeLines(lines: readonly string[]): string {
  return lines.map(escapeText).join('\n');
}

/** JSON text whose characters a terminal would act on are \u escapes: the same JSON value, safe to print (E2). */
export function safeJson(text: string): string {
  return text.replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

/** JSON.stringify, then safeJson. */
export function toJson(value: unknown, indent?: number): string {
  return safeJson(JSON.stringify(value, null, indent));
}

/** A Graphviz double-quoted string: escaped as text first (no raw newline becomes a label line), then `\` and `"` (E3). */
export function dotString(s: string): string {
  return `"${escapeText(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
