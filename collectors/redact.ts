/**
 * Redaction for everything a dump writes (collectors/README.md, "Redaction",
 * rules R1–R6). A dump goes to a support engineer's laptop or a ticket:
 * owner metadata, resource names, request sites, command lines and reports
 * carry whatever the program put there, so nothing reaches an archive
 * without passing through a `Redactor`:
 *
 * - by name (R2): values under secret-looking keys (`password`, `apiKey`,
 *   `db-pass`, `Authorization`, ...) in objects, in `name=value` pairs inside
 *   text, and after secret-looking flags of a command line, whether joined
 *   (`--token=x`) or separated (`--db-pass x`, two argv elements);
 * - by value (R3): credentials in URLs, `Bearer`/`Basic` credentials, JWTs,
 *   private-key blocks and well-known token formats, wherever they appear;
 * - by knowledge (R4): the values of this process's secret-named environment
 *   variables and any secrets the embedder names (the server's tokens).
 *
 * Over-redaction is the accepted failure: a dump with `[redacted]` where a
 * harmless value was is still a good dump; a leaked password is not.
 */

import type { DomainSnapshot, EdgeSnapshot, LockSnapshot, OwnerSnapshot, ResourceSnapshot, Snapshot } from '../src/index.js';

export const REDACTED = '[redacted]';

/** Substrings that make a name secret wherever they occur in it ("dbPassword", "x-api-key", "GITHUB_TOKEN"). */
const SECRET_NAME_PART = /token|secret|passw|passphrase|pwd|api[-_]?key|private[-_]?key|access[-_]?key|credential|cookie|bearer|authoriz|signature/i;
/** Words that make a name secret only as a whole word ("db-pass", "pw", "auth", "key"), not inside others ("compass", "author", "monkey"). */
const SECRET_NAME_WORDS = new Set(['pass', 'pw', 'key', 'auth', 'authn', 'authz', 'session', 'sid', 'salt', 'jwt', 'dsn', 'otp']);
/** Environment variables with a secret-looking name that hold none (the shell's working directories). */
const NOT_SECRET_ENV = new Set(['PWD', 'OLDPWD']);

/** A secret value shorter than this is not scrubbed from text: it would match everywhere. */
const SECRET_VALUE_MIN = 6;

export function isSecretName(name: string): boolean {
  if (SECRET_NAME_PART.test(name)) return true;
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/);
  return words.some((w) => SECRET_NAME_WORDS.has(w));
}

/** The values of environment variables with secret-looking names (and their comma-separated parts), longest first. */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || NOT_SECRET_ENV.has(name) || !isSecretName(name)) continue;
    // LOCKSCOPE_TOKENS="role:token,role:token" and the like: each token alone is a secret too.
    const parts = [value, ...value.split(/[,;\s]+/), ...value.split(/[,;\s]+/).map((p) => p.slice(p.indexOf(':') + 1))];
    for (const p of parts) if (p.length >= SECRET_VALUE_MIN) out.add(p);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

// Value patterns (R3). Character classes stop at quotes, backslashes and angle brackets, so a replacement
// inside JSON or markup text never swallows the text's own syntax.
const PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/"'\\<>]*):([^\s@/"'\\<>]+)@/gi;
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer\s+|Basic\s+(?=[A-Za-z0-9+/=]*[0-9+/=]))[A-Za-z0-9._~+/=-]{6,}/gi;
const KNOWN_TOKENS = /(?<![A-Za-z0-9])(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36})/g;
/**
 * `name=value`, `name: value` (a space after the colon: `session:42` is a
 * resource name, `password: x` a secret) and `"name":"value"` inside text;
 * replaced when the name is secret (R2). The value may be a scheme and a
 * credential (`Authorization: Bearer x`).
 */
const PAIR = /(["']?)([A-Za-z_][A-Za-z0-9_.-]{0,63})\1(\s*=\s*|\s*:\s+|:(?=["']))((?:Bearer\s+|Basic\s+|Token\s+)?)("[^"]*"|'[^']*'|[^\s&,;"'\\<>)]+)/g;
/** `--flag value` inside text (a command line joined into one string). */
const FLAG_PAIR = /(^|\s)(--?[A-Za-z][A-Za-z0-9_.-]*)(\s+)([^\s-"'\\][^\s"'\\]*)/g;

/**
 * What every pattern above needs somewhere in a string: one test decides
 * that most strings (a resource `inode:12`, a stack frame) need no
 * replacing. Measured on a 100,000-lock dump: running the replacements on
 * every distinct string was 7 µs a string; this test alone is a fraction.
 * Must stay a superset of the patterns: each alternative names the pattern it stands for.
 */
const MAYBE = /-----BEGIN |:\/\/[\s\S]*@|eyJ|bearer|basic|akia|gh[pousr]_|github_pat_|xox|k_live_|k_test_|aiza|npm_|=|:\s|:["']|(?:^|\s)-/i;

/** Free text with every secret the patterns know replaced (R2–R4). */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  if (!MAYBE.test(out)) return out;
  return out
    .replace(PRIVATE_KEY, `-----BEGIN $1PRIVATE KEY-----${REDACTED}`)
    .replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`)
    .replace(JWT, REDACTED)
    .replace(BEARER, (_m, scheme: string) => `${scheme}${REDACTED}`)
    .replace(KNOWN_TOKENS, REDACTED)
    .replace(PAIR, (m, q: string, name: string, sep: string, scheme: string, value: string) => {
      if (!isSecretName(name) || value === REDACTED) return m;
      const quote = value.startsWith('"') || value.startsWith("'") ? value[0]! : '';
      return `${q}${name}${q}${sep}${scheme}${quote}${REDACTED}${quote}`;
    })
    .replace(FLAG_PAIR, (m, lead: string, flag: string, space: string, value: string) => (isSecretName(flag) && value !== REDACTED ? `${lead}${flag}${space}${REDACTED}` : m));
}

const FLAG = /^(--?[A-Za-z][A-Za-z0-9_.-]*)(=.*)?$/s;

/** A command line with the values of secret-looking flags removed: `--token=x`, `--token x`, `--db-pass x` (R2). */
export function redactArgs(argv: readonly string[], secrets: readonly string[]): string[] {
  const out: string[] = [];
  let hideNext = false;
  for (const arg of argv) {
    if (hideNext) {
      hideNext = false;
      // `--password --verbose`: the flag had no value, the next flag is not one.
      if (!FLAG.test(arg)) {
        out.push(REDACTED);
        continue;
      }
    }
    const flag = FLAG.exec(arg);
    if (flag !== null && isSecretName(flag[1]!.replace(/^-+/, ''))) {
      if (flag[2] !== undefined) out.push(`${flag[1]}=${REDACTED}`);
      else {
        out.push(arg);
        hideNext = true;
      }
      continue;
    }
    out.push(redactText(arg, secrets));
  }
  return out;
}

/**
 * A deep copy of `value` with secrets removed: strings scrubbed (R3, R4),
 * arrays of strings read as command lines too (R2), and, where `keys` says
 * so, values under secret-looking keys replaced whole (R2; booleans and
 * null kept: `authenticated: true` tells nothing). Iterative (explicit
 * stack): the input may be deep and comes from outside. `text` lets the
 * caller memoize string redaction.
 */
export function redactValue(value: unknown, secrets: readonly string[], options: { keys?: 'all' | 'meta'; text?: (s: string) => string } = {}): unknown {
  const text = options.text ?? ((s: string) => redactText(s, secrets));
  const root: { v: unknown } = { v: undefined };
  const stack: Array<{ src: unknown; keys: boolean; set: (v: unknown) => void }> = [{ src: value, keys: options.keys !== 'meta', set: (v) => (root.v = v) }];
  while (stack.length > 0) {
    const { src, keys, set } = stack.pop()!;
    if (typeof src === 'string') set(text(src));
    else if (Array.isArray(src)) {
      const arr: unknown[] = new Array(src.length);
      set(arr);
      const argv = src.every((x) => typeof x === 'string') && src.some((x) => FLAG.test(x as string));
      if (argv) redactArgs(src as string[], secrets).forEach((a, i) => (arr[i] = a));
      else src.forEach((item, i) => stack.push({ src: item, keys, set: (v) => (arr[i] = v) }));
    } else if (src !== null && typeof src === 'object') {
      const obj: Record<string, unknown> = {};
      set(obj);
      for (const [k, item] of Object.entries(src)) {
        // Placed now, filled when popped: the copy keeps the original's key order.
        obj[k] = undefined;
        if (keys && isSecretName(k) && item !== null && typeof item !== 'boolean') obj[k] = REDACTED;
        // In a snapshot only owner metadata is free-form: its schema's own keys (a lock's fencing `token`) are not secrets.
        else stack.push({ src: item, keys: keys || k === 'meta', set: (v) => (obj[k] = v) });
      }
    } else set(src);
  }
  return root.v;
}

const MEMO_CHARS_MIN = 64;

/** The redaction of one dump: its known secrets, and string results remembered (stacks and names repeat by the thousand). */
export class Redactor {
  private readonly memo = new Map<string, string>();
  constructor(readonly secrets: readonly string[]) {}

  text = (s: string): string => {
    // Short strings (names) are mostly distinct and cheap to redact: remembering them costs more than it saves.
    if (s.length < MEMO_CHARS_MIN) return redactText(s, this.secrets);
    let out = this.memo.get(s);
    if (out === undefined) {
      out = redactText(s, this.secrets);
      this.memo.set(s, out);
    }
    return out;
  };

  /**
   * This process's secret values alone, replaced wherever they appear, for
   * text another redactor already went over by every rule (a cluster node's
   * part of a dump): literal values keep JSON valid, and cost a scan each.
   */
  secretsOnly(s: string): string {
    let out = s;
    for (const x of this.secrets) if (out.includes(x)) out = out.split(x).join(REDACTED);
    return out;
  }

  /** Any value from outside (a report, metadata): keys and strings. */
  value(v: unknown): unknown {
    return redactValue(v, this.secrets, { text: this.text });
  }

  /** Our own structured data (a hang, a deadlock record): every string, and keys inside `meta` only. */
  data<T>(v: T): T {
    return redactValue(v, this.secrets, { keys: 'meta', text: this.text }) as T;
  }

  /**
   * A snapshot as data(), but its bulk (locks, resources, owners, edges) by
   * their free-text fields alone, and copied only where one changed: the
   * generic walk took 4 s and most of a GC budget on 50,000 locks.
   */
  snapshot(s: Snapshot): Snapshot {
    const t = this.text;
    const lock = (l: LockSnapshot): LockSnapshot => {
      const owner = t(l.owner);
      const stack = l.stack === null ? null : t(l.stack);
      return owner === l.owner && stack === l.stack ? l : { ...l, owner, stack };
    };
    const resource = (r: ResourceSnapshot): ResourceSnapshot => {
      const name = t(r.name);
      const [granted, converting, waiting] = [mapSame(r.granted, lock), mapSame(r.converting, lock), mapSame(r.waiting, lock)];
      return name === r.name && granted === r.granted && converting === r.converting && waiting === r.waiting ? r : { ...r, name, granted, converting, waiting };
    };
    const domains = s.domains.map((d): DomainSnapshot => ({ ...d, name: t(d.name), resources: mapSame(d.resources, resource) }));
    const owners = s.owners.map((o): OwnerSnapshot => ({ ...o, name: t(o.name), meta: o.meta === null ? null : (this.value(o.meta) as Record<string, unknown>) }));
    const edges = mapSame(s.edges, (e): EdgeSnapshot => {
      const [fromName, toName, domain, resource] = [t(e.fromName), t(e.toName), t(e.domain), t(e.resource)];
      return fromName === e.fromName && toName === e.toName && domain === e.domain && resource === e.resource ? e : { ...e, fromName, toName, domain, resource };
    });
    const { domains: _d, owners: _o, edges: _e, ...rest } = s;
    return { ...this.data(rest), domains, owners, edges };
  }

  args(argv: readonly string[]): string[] {
    return redactArgs(argv, this.secrets);
  }
}

/** `items.map(f)`, or `items` itself when f changed none of them. */
function mapSame<T>(items: T[], f: (item: T) => T): T[] {
  let out: T[] | null = null;
  for (let i = 0; i < items.length; i++) {
    const v = f(items[i]!);
    if (out === null && v !== items[i]) out = items.slice(0, i);
    if (out !== null) out.push(v);
  }
  return out ?? items;
}
