/**
 * Redaction for anything that leaves the process in a dump: a diagnostic
 * report carries the environment, the command line and network details, and
 * a support engineer's laptop is not where secrets belong. We remove what
 * is known to be sensitive (the environment, network interfaces), replace
 * values under secret-looking names, and scrub the values of secret-looking
 * environment variables wherever else they appear (a token passed on the
 * command line, echoed in a path, ...).
 */

export const REDACTED = '[redacted]';

/** Names that hold secrets: tokens, passwords, keys, credentials, cookies. */
const SECRET_NAME = /(token|secret|passw|pwd|passphrase|api[-_]?key|private[-_]?key|access[-_]?key|(^|[-_.])key($|[-_.])|credential|auth|cookie|session|bearer|signature|salt)/i;

/** `name=value` or `name: value` pairs inside free text, with a secret-looking name. */
const SECRET_PAIR = /((?:[A-Za-z0-9_.-]*)(?:token|secret|passw|pwd|passphrase|api[-_]?key|private[-_]?key|access[-_]?key|credential|auth|cookie|session)[A-Za-z0-9_.-]*)(\s*[=:]\s*)((?:Bearer\s+|Basic\s+)?(?:"[^"]*"|'[^']*'|[^\s&,;"']+))/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+):[^@\s/]+@/gi;

/** Secret values shorter than this are not scrubbed from text: they would match everywhere. */
const SECRET_VALUE_MIN = 6;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** The values of environment variables with secret-looking names, longest first. */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.length >= SECRET_VALUE_MIN && isSecretName(name)) out.add(value);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Free text with secret pairs, bearer tokens, URL passwords and known secret values replaced. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out
    .replace(SECRET_PAIR, (_m, name: string, sep: string) => `${name}${sep}${REDACTED}`)
    .replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(URL_CREDENTIALS, `$1:${REDACTED}@`);
}

/** A command line with the values of secret-looking flags removed: `--token=x`, `--token x`, `-p x`. */
export function redactArgs(argv: readonly string[], secrets: readonly string[]): string[] {
  const out: string[] = [];
  let hideNext = false;
  for (const arg of argv) {
    if (hideNext) {
      out.push(REDACTED);
      hideNext = false;
      continue;
    }
    const flag = /^(--?[A-Za-z0-9_.-]+)(=.*)?$/.exec(arg);
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
 * A deep copy of `value` with secrets removed: values under secret-looking
 * keys replaced, strings scrubbed. Iterative (explicit stack), since the
 * input may be deep and comes from outside.
 */
export function redactValue(value: unknown, secrets: readonly string[]): unknown {
  const root: { v: unknown } = { v: undefined };
  const stack: Array<{ src: unknown; set: (v: unknown) => void }> = [{ src: value, set: (v) => (root.v = v) }];
  while (stack.length > 0) {
    const { src, set } = stack.pop()!;
    if (typeof src === 'string') set(redactText(src, secrets));
    else if (Array.isArray(src)) {
      const arr: unknown[] = new Array(src.length);
      set(arr);
      src.forEach((item, i) => stack.push({ src: item, set: (v) => (arr[i] = v) }));
    } else if (src !== null && typeof src === 'object') {
      const obj: Record<string, unknown> = {};
      set(obj);
      for (const [k, item] of Object.entries(src)) {
        if (isSecretName(k) && (typeof item === 'string' || typeof item === 'number')) obj[k] = REDACTED;
        else stack.push({ src: item, set: (v) => (obj[k] = v) });
      }
    } else set(src);
  }
  return root.v;
}
