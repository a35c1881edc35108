/**
 * Reconnection, shared by the clients of one server within a process. When a
 * server goes away every client of it loses its connection at once; if each
 * retried on its own backoff, a process with a thousand clients would make
 * thousands of attempts while the server is down (burning the CPU the
 * restarting server needs), and after it is back each client would wait out
 * its own backoff, up to RECONNECT_DELAY_MAX_MS, before trying again.
 *
 * Instead one client, the probe, retries on the backoff a lone client has
 * always had (first retry after RECONNECT_DELAY_MS, doubling up to
 * RECONNECT_DELAY_MAX_MS, with jitter); the others wait. As soon as the
 * server answers the probe (it connects, or the server refuses it: either
 * way the server is up), every waiting client tries at once. A waiting
 * client whose attempt then fails waits again, and one of them probes.
 *
 * Invariants: a client is the probe, or waiting, or trying, or connected,
 * never two of these; while any client of a URL waits, one client of that
 * URL is the probe (so every client still comes back within its lease:
 * none waits on a probe that no longer tries). A probe that leaves (its
 * client closed) hands the role to a waiting client, keeping the backoff.
 * A probe whose attempt gets no answer for PROBE_STALL_MS (a SYN lost on the
 * way, a server that accepts and hangs: socket.io gives an attempt 20 s)
 * stops holding the others back: it goes on trying alone, and a waiting
 * client becomes the probe.
 */
import { PROBE_STALL_MS, RECONNECT_DELAY_MAX_MS, RECONNECT_DELAY_MS, RECONNECT_JITTER } from './limits.js';
export { PROBE_STALL_MS, RECONNECT_DELAY_MAX_MS, RECONNECT_DELAY_MS } from './limits.js';


export interface ReconnectMember {
  /** Shown by probeStates(). */
  readonly name: string;
  /** Try to connect now (a no-op if an attempt is already under way). */
  attempt(): void;
}

/** socket.io-client's backoff (ms × 2^attempts, ± jitter, capped), so a lone client retries exactly as it did. */
function backoff(attempts: number): number {
  const ms = RECONNECT_DELAY_MS * 2 ** Math.min(attempts, 20);
  const rand = Math.random();
  const deviation = Math.floor(rand * RECONNECT_JITTER * ms);
  return Math.min((Math.floor(rand * 10) & 1) === 0 ? ms - deviation : ms + deviation, RECONNECT_DELAY_MAX_MS);
}

class Probe {
  readonly waiting = new Set<ReconnectMember>();
  prober: ReconnectMember | null = null;
  private attempts = 0;
  /** The probe's next attempt, or (once it is under way) the end of the others' patience with it. */
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly url: string) {}

  /** `m` could not reach the server: its connection dropped, or its attempt failed without an answer. */
  unreachable(m: ReconnectMember): void {
    if (this.prober === m) {
      this.schedule();
      return;
    }
    this.waiting.add(m);
    if (this.prober === null) this.elect();
  }

  /** `m` reached the server (connected, or was refused by it): everyone waiting tries now. */
  reached(m: ReconnectMember): void {
    this.waiting.delete(m);
    const probing = this.prober;
    this.stopProbing();
    this.attempts = 0;
    const now = [...this.waiting];
    // Another client got through first: the probe, between two attempts, goes now too.
    if (probing !== null && probing !== m) now.push(probing);
    this.waiting.clear();
    this.drop();
    for (const w of now) w.attempt();
  }

  /** `m` stops reconnecting (closed, or refused for good). */
  leave(m: ReconnectMember): void {
    this.waiting.delete(m);
    if (this.prober === m) {
      this.stopProbing();
      if (this.waiting.size > 0) this.elect();
    }
    this.drop();
  }

  private elect(): void {
    const m = this.waiting.values().next().value!;
    this.waiting.delete(m);
    this.prober = m;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const p = this.prober!;
      this.timer = setTimeout(() => this.stalled(p), PROBE_STALL_MS);
      p.attempt();
    }, backoff(this.attempts++));
  }

  /** The probe's attempt has had no answer for PROBE_STALL_MS: it tries on alone, another client probes. */
  private stalled(p: ReconnectMember): void {
    this.timer = null;
    if (this.prober !== p) return;
    this.prober = null;
    if (this.waiting.size > 0) this.elect();
    else this.drop();
  }

  private stopProbing(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.prober = null;
  }

  private drop(): void {
    if (this.prober === null && this.waiting.size === 0) probes.delete(this.url);
  }
}

/** One probe per server URL in this process; gone when nobody waits. */
const probes = new Map<string, Probe>();

function probeOf(url: string): Probe {
  let p = probes.get(url);
  if (p === undefined) probes.set(url, (p = new Probe(url)));
  return p;
}

export function unreachable(url: string, m: ReconnectMember): void {
  probeOf(url).unreachable(m);
}

export function reached(url: string, m: ReconnectMember): void {
  probes.get(url)?.reached(m);
}

export function leave(url: string, m: ReconnectMember): void {
  probes.get(url)?.leave(m);
}

/** For tests and diagnostics: per URL, the probing client's name and how many clients wait on it. */
export function probeStates(): { url: string; prober: string | null; waiting: number }[] {
  return [...probes].map(([url, p]) => ({ url, prober: p.prober?.name ?? null, waiting: p.waiting.size }));
}
