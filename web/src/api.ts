/**
 * The REST calls the page makes (its token travels as the HttpOnly cookie
 * the server set, never through this code: main.ts, signIn), and the
 * confirmation every admin action asks for first (a <dialog>, not
 * window.confirm, so it looks like the page and tests can drive it).
 */

export interface Session {
  role: 'viewer' | 'admin' | 'client' | null;
}

export const session: Session = { role: null };

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

/** An admin action; resolves with an error message to show, or null when it worked. */
export async function post(path: string, payload: Record<string, unknown> = {}): Promise<string | null> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  if (res.ok) return null;
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  return failureText(body?.error?.code ?? String(res.status), body?.error?.message ?? 'refused');
}

/** "ENOENT: no pending request 7": a LockError's message already starts with its code, which is then not said twice. */
export function failureText(code: string, message: string): string {
  return message.startsWith(`${code}:`) ? message : `${code}: ${message}`;
}

/** A dump arrives as a blob (fetched, so an error shows here instead of as a broken download), then is saved under its own name. */
export async function download(path: string, name: string): Promise<void> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function confirmAction(text: string): Promise<boolean> {
  const dialog = document.getElementById('confirm') as HTMLDialogElement;
  (document.getElementById('confirm-text') as HTMLElement).textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

/** Confirm, then do; the outcome goes to the status line. */
export async function adminAction(text: string, path: string, payload: Record<string, unknown> = {}): Promise<void> {
  if (session.role !== 'admin') return;
  if (!(await confirmAction(text))) return;
  const err = await post(path, payload);
  flash(err ?? 'done', err !== null);
}

let flashTimer: ReturnType<typeof setTimeout> | null = null;

/** An action's outcome, in its own status line: the connection pill says only whether the feed is live. */
export function flash(text: string, failed = false): void {
  const el = document.getElementById('status') as HTMLElement;
  el.textContent = text;
  el.className = failed ? 'status failed' : 'status';
  el.hidden = false;
  if (flashTimer !== null) clearTimeout(flashTimer);
  // A failure stays until the next action or ten seconds: long enough to read a code.
  flashTimer = setTimeout(() => { el.hidden = true; }, failed ? 10_000 : 3_000);
}

export const isAdmin = (): boolean => session.role === 'admin';
