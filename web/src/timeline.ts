/**
 * The timeline: the server's kept window as a slider with a marker for
 * every deadlock, hang, dump and grace period in it. Live by default; pause
 * freezes the page at this moment, dragging the slider or clicking a marker
 * shows another moment, "live" returns. While paused every view draws the
 * state rebuilt for that moment (replay.ts) and nothing can be acted on.
 * The moment goes in the address (`at=`), so a link shows it to a colleague.
 */

import type { HistoryIndex, HistoryMoment } from '../../server/protocol.js';
import { getJson } from './api.js';
import { clock } from './format.js';
import { webLimits } from './limits.js';
import type { Model } from './model.js';
import { replayMoment } from './replay.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

export interface Shown {
  model: Model;
  /** The moment shown, or null for live. */
  at: number | null;
}

export class Timeline {
  at: number | null = null;
  private index: HistoryIndex | null = null;
  private loading: number | null = null;
  private queued: number | null = null;
  private readonly range = $<HTMLInputElement>('tl-range');

  constructor(private readonly onShow: (s: Shown | null) => void) {
    $('tl-pause').addEventListener('click', () => void (this.at === null ? this.show(Date.now()) : this.live()));
    $('tl-live').addEventListener('click', () => this.live());
    this.range.addEventListener('input', () => void this.show(Number(this.range.value)));
    $('tl-markers').addEventListener('click', (e) => {
      const t = (e.target as HTMLElement).closest<HTMLElement>('[data-at]')?.dataset.at;
      if (t !== undefined) void this.show(Number(t));
    });
    this.paint();
  }

  /** Fetch the kept window and its markers again (on a timer while live, at once when pausing). */
  async refresh(): Promise<void> {
    try {
      this.index = await getJson<HistoryIndex>('/api/history');
    } catch {
      this.index = null;
    }
    this.paint();
  }

  live(): void {
    this.at = null;
    this.queued = null;
    this.onShow(null);
    this.paint();
  }

  /** Show `at` (clamped to the kept window); one request at a time, the newest asked-for moment wins. */
  async show(at: number): Promise<void> {
    if (this.loading !== null) {
      this.queued = at;
      return;
    }
    this.loading = at;
    try {
      if (this.index === null || this.at === null) await this.refresh();
      const from = this.index?.from ?? at;
      const t = Math.max(from, Math.min(at, this.index?.to ?? at));
      const moment = await getJson<HistoryMoment>(`/api/history/moment?at=${Math.round(t)}`);
      if (this.loading !== at) return;
      this.at = t;
      this.onShow({ model: replayMoment(moment), at: t });
    } catch (err) {
      $('tl-at').textContent = `cannot show that moment (${String(err)})`;
    } finally {
      this.loading = null;
      this.paint();
    }
    const next = this.queued;
    this.queued = null;
    if (next !== null) await this.show(next);
  }

  private paint(): void {
    const ix = this.index;
    const paused = this.at !== null;
    document.body.classList.toggle('paused', paused);
    $('tl-pause').textContent = paused ? 'resume live' : 'pause';
    $<HTMLButtonElement>('tl-live').hidden = !paused;
    const from = ix?.from ?? null;
    const to = paused ? Math.max(this.at!, ix?.to ?? this.at!) : (ix?.to ?? Date.now());
    this.range.disabled = from === null;
    if (from !== null) {
      this.range.min = String(from);
      this.range.max = String(to);
      this.range.value = String(this.at ?? to);
    }
    $('tl-at').textContent = paused ? `paused at ${clock(this.at!)} · ${Math.round((Date.now() - this.at!) / 1000)} s ago` : 'showing now';
    $('tl-window').textContent = from === null ? 'no history kept yet' : `kept: ${clock(from)} – now`;
    const markers = $('tl-markers');
    const span = from === null ? 0 : to - from;
    markers.replaceChildren(...(from === null || span <= 0 ? [] : (ix?.markers ?? []).slice(-webLimits.timelineMarkersMax).map((m) => {
      const el = document.createElement('button');
      el.type = 'button';
      el.className = `marker ${m.kind}`;
      // The first moment that includes the marked event (or, not stored yet, just after it).
      el.dataset.at = String(m.at ?? m.time + webLimits.markerJumpMs);
      el.style.left = `${Math.max(0, Math.min(100, ((m.time - from) / span) * 100))}%`;
      el.title = `${clock(m.time)} ${m.label}`;
      el.setAttribute('aria-label', el.title);
      return el;
    })));
  }
}
