/**
 * The six DLM modes and their compatibility matrix (the VMS and Linux DLM's;
 * the table is in src/README.md, "Modes").
 * Internally a mode is its index 0..5, ordered NL < CR < CW < PR < PW < EX;
 * that order is what "highest mode" means for blocking notifications.
 */

export const MODES = ['NL', 'CR', 'CW', 'PR', 'PW', 'EX'] as const;
export type DlmMode = (typeof MODES)[number];

export const NL = 0;
export const CR = 1;
export const CW = 2;
export const PR = 3;
export const PW = 4;
export const EX = 5;

/** Bit m of COMPAT[n] is set when modes n and m are compatible. */
const COMPAT: readonly number[] = [
  0b111111, // NL: everything
  0b011111, // CR: all but EX
  0b000111, // CW: NL CR CW
  0b001011, // PR: NL CR PR
  0b000011, // PW: NL CR
  0b000001, // EX: NL
];

export function compatible(a: number, b: number): boolean {
  return (COMPAT[a]! & (1 << b)) !== 0;
}

/** Index of a mode name, or -1. A switch: this runs on every request. */
export function modeIndex(name: string): number {
  switch (name) {
    case 'NL': return NL;
    case 'CR': return CR;
    case 'CW': return CW;
    case 'PR': return PR;
    case 'PW': return PW;
    case 'EX': return EX;
    default: return -1;
  }
}

export function modeName(index: number): DlmMode {
  return MODES[index]!;
}

/**
 * A down-conversion only gives up access, so it is always granted in place.
 * PR and CW are not ordered: PR↔CW is neither up nor down.
 */
export function isDownConversion(from: number, to: number): boolean {
  if ((from === PR && to === CW) || (from === CW && to === PR)) return false;
  return to <= from;
}

/** Value-block rule of the Linux DLM: written when leaving PW or EX for a lower (or equal) mode. */
export function writesLvb(from: number, to: number): boolean {
  return (from === PW || from === EX) && to <= from;
}
