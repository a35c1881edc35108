/** Control characters (C0, DEL, C1) shown as \xHH, so a name cannot move a terminal's cursor or forge lines. */
export function escapeText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
