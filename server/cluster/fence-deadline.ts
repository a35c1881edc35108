/**
 * A node's fence deadline (membership.ts, rules M2 and M3): the send time of
 * the last keepalive etcd acknowledged, plus the TTL it granted, minus a
 * margin, on the monotonic clock; and the timer that fences the node once
 * the deadline has passed. Whether the node may grant is read from the
 * clock at each decision (`ahead`), never from the timer, so a process
 * stopped past its deadline grants nothing when it runs again, even before
 * the timer's callback runs.
 *
 * Preconditions: `now` is monotonic; `due` fences the node (and `stop`s
 * this timer) — it is called only while `active` says the node is joining
 * or a member.
 */

/** Margin kept below the lease's TTL: covers the clock rates of two machines and a grant in progress. */
export function fenceMarginMs(ttlSec: number): number {
  return Math.max(250, ttlSec * 100);
}

export class FenceDeadline {
  private at = -Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly now: () => number,
    private readonly marginMs: number,
    private readonly active: () => boolean,
    private readonly due: () => void,
  ) {}

  /** Milliseconds until the deadline (negative: already past). */
  get inMs(): number {
    return this.at - this.now();
  }

  /** Rule M3: the deadline has not passed, by the clock read now. */
  ahead(): boolean {
    return this.now() < this.at;
  }

  /** Rule M2: a new deadline from an acknowledged keepalive whose lease, counted from its send time, expires at `expiresAt`. */
  extend(expiresAt: number): void {
    const deadline = expiresAt - this.marginMs;
    if (deadline <= this.at) return;
    this.at = deadline;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), Math.max(0, deadline - this.now()) + 1);
  }

  /** No deadline: a node joining again starts from none (rule M4). */
  reset(): void {
    this.at = -Infinity;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private check(): void {
    this.timer = null;
    if (!this.active()) return;
    if (this.now() < this.at) {
      this.timer = setTimeout(() => this.check(), this.at - this.now() + 1);
      return;
    }
    this.due();
  }
}
