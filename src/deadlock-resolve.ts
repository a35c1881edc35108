/**
 * Resolving a cycle the detector found (src/README.md, "Deadlock detection":
 * why it does not report a false one, Resolution, and rule D3): revalidate
 * it, then undo it by reordering a queue where a soft edge allows, else fail
 * a victim chosen by policy with EDEADLK. Every deadlock goes to the history.
 *
 * Preconditions: `steps` is a cycle as a search or the full pass found it,
 * which may be stale by now (a step's wait settled, its blocker gone):
 * nothing is acted on before `revalidate` recomputed every step from the
 * lock tables. Runs in a microtask or a timer after the lock operation that
 * caused it (deadlock.ts), or in a cluster detector's call (`failVictim`),
 * never inside a lock operation; the check and the failing are one
 * synchronous step, so no grant comes between them.
 */

import { blockersOf } from './blockers.js';
import type { VictimPolicy } from './deadlock.js';
import { DlmWait } from './dlm.js';
import { St } from './dlm-lock.js';
import { DeadlockError } from './errors.js';
import type { EngineHost } from './host.js';
import { modeName } from './modes.js';
import type { Owner } from './owner.js';
import { formatStack, noStack, withRequestStack } from './stacks.js';
import type { Waiter } from './waiter.js';
import { failWait } from './waits.js';
import type { Step, WaitForGraph } from './waitfor.js';
import type { CycleEntry, DeadlockStats } from './shapes.js';

export class DeadlockResolver {
  /** Cycles already reported without a victim (e.g. notify conversions), by wait ids. */
  private readonly acknowledged = new Set<string>();

  constructor(
    private readonly m: EngineHost,
    private readonly graph: WaitForGraph,
    /** The detector's counters: false positives, reorders and victims are counted here. */
    private readonly stats: DeadlockStats,
    readonly victimPolicy: VictimPolicy,
    private readonly budget: number,
  ) {}

  /** Act on a candidate cycle. Returns true if it was broken. */
  resolve(steps: Step[], requester: Waiter): boolean {
    if (!revalidate(steps)) {
      this.stats.falsePositives++;
      return false;
    }
    if (steps.some((s) => !s.blocker.hard) && this.tryReorder(steps)) return true;
    const victim = this.chooseVictim(steps, requester);
    const cycle = steps.map(entryOf);
    if (victim === null) {
      const key = steps.map((s) => s.wait.id).sort((a, b) => a - b).join(',');
      if (!this.acknowledged.has(key)) {
        if (this.acknowledged.size >= 1024) this.acknowledged.clear();
        this.acknowledged.add(key);
        this.m.recordDeadlock({ kind: 'cycle', cycle, victim: null, policy: 'notify' });
      }
      return false;
    }
    this.stats.victims++;
    const owner = victim.owner;
    this.m.recordDeadlock({ kind: 'cycle', cycle, victim: owner.name, policy: this.victimPolicy });
    this.failVictimWait(victim, cycle,
      `${owner.name}'s ${victim.wanted} request on ${victim.resource} closes a wait-for cycle of ${steps.length} (${cycle.map((c) => c.owner).join(' → ')})`);
    return true;
  }

  /** The edge `key` as a cycle entry, with its two owners, if it still holds right now (its wait pending, the same blocker blocking it). */
  edgeEntry(key: string): { entry: CycleEntry; owner: Owner; blocker: Owner } | null {
    const step = this.liveStep(key);
    return step === null ? null : { entry: entryOf(step), owner: step.wait.owner, blocker: step.blocker.to };
  }

  /**
   * Rule D3: a cycle found outside this manager breaks here only if its edge
   * through this manager's wait still holds, checked in the same step that
   * fails the wait. Returns whether the wait failed (EDEADLK, with `cycle`).
   */
  failVictim(key: string, cycle: CycleEntry[], policy: string, nodes: string[]): boolean {
    const step = this.liveStep(key);
    if (step === null) {
      this.stats.falsePositives++;
      return false;
    }
    const victim = step.wait;
    const owner = victim.owner;
    this.stats.victims++;
    this.m.recordDeadlock({ kind: 'cycle', cycle, victim: owner.name, policy, nodes });
    this.failVictimWait(victim, cycle,
      `${owner.name}'s ${victim.wanted} request on ${victim.resource} closes a wait-for cycle of ${cycle.length} across nodes ${nodes.join(', ')} (${cycle.map((c) => c.owner).join(' → ')})`);
    return true;
  }

  /** The victim's wait fails EDEADLK with the cycle, its stack the request site's. */
  private failVictimWait(victim: Waiter, cycle: CycleEntry[], message: string): void {
    const err = withRequestStack(noStack(() => new DeadlockError(message, cycle, this.m.context(victim.owner, victim.domain, victim.resource))), victim);
    failWait(this.m, victim, err);
  }

  private liveStep(key: string): Step | null {
    this.graph.sync();
    const g = this.graph.graph;
    if (!g.hasEdge(key)) return null;
    const step = g.getEdgeAttributes(key);
    return revalidate([step]) ? step : null;
  }

  /**
   * PostgreSQL's answer to a cycle through queue order: let the waiter go
   * ahead of the request it queues behind, and keep that only if the cycle
   * is gone. Only within one dlm queue (never a new request past conversions).
   */
  private tryReorder(steps: Step[]): boolean {
    for (const s of steps) {
      if (s.blocker.hard || !(s.wait instanceof DlmWait)) continue;
      const lock = s.wait.lock;
      const ahead = lock.prev;
      if (ahead === null || ahead.owner !== s.blocker.to) continue;
      const list = lock.list!;
      list.remove(lock);
      list.insertBefore(lock, ahead);
      const again = this.graph.search(s.wait, this.budget);
      if (again.found === null && !again.exhausted) {
        this.stats.reorders++;
        this.m.recordDeadlock({ kind: 'cycle', cycle: steps.map(entryOf), victim: null, policy: 'reorder' });
        this.graph.touch(lock.res);
        this.m.dlm.afterChange(lock.res);
        return true;
      }
      list.remove(lock);
      if (ahead.next === null) list.push(lock);
      else list.insertBefore(lock, ahead.next);
    }
    return false;
  }

  /** Null when the cycle holds a conversion queued under `notify`: the application was told and acts itself. */
  private chooseVictim(steps: Step[], requester: Waiter): Waiter | null {
    const candidates = steps.map((s) => s.wait);
    if (candidates.some((w) => w instanceof DlmWait && w.conversion && w.lock.extra?.convDeadlock === 'notify')) return null;
    const latestFirst = (a: Waiter, b: Waiter): number => b.id - a.id;
    const pick = (score: (w: Waiter) => number): Waiter =>
      [...candidates].sort((a, b) => score(a) - score(b) || latestFirst(a, b))[0]!;
    switch (this.victimPolicy) {
      case 'requester':
        return candidates.includes(requester) ? requester : pick(() => 0);
      case 'youngest':
        return pick((w) => -w.owner.createdAt);
      case 'least-locks':
        return pick((w) => w.owner.lockCount);
      case 'priority':
        return pick((w) => w.owner.priority);
    }
  }
}

/** Every step still holds: its wait pending, and its blocker still blocking it so (hard or soft), recomputed from the tables. */
function revalidate(steps: Step[]): boolean {
  return steps.every((s) => !s.wait.settled && blockersOf(s.wait).some((b) => b.to === s.blocker.to && b.hard === s.blocker.hard));
}

/** A step as a cycle entry: who waits for what on which resource, blocked by whom in which mode, with both stacks. */
export function entryOf(s: Step): CycleEntry {
  const w = s.wait;
  const held = w instanceof DlmWait && w.lock.st === St.Converting ? modeName(w.lock.grMode) : null;
  return {
    owner: w.owner.name, domain: w.domain, resource: w.resource, held, wanted: w.wanted, stack: formatStack(w.stack),
    blocker: { owner: s.blocker.to.name, mode: s.blocker.mode, hard: s.blocker.hard, stack: formatStack(s.blocker.stack) },
  };
}
