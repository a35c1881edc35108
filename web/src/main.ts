/**
 * The dashboard: connect to the live feed, keep the model current, redraw
 * the views a few times a second. The feed already batches events on the
 * server; the page folds whatever arrived between two frames into one
 * redraw, so a burst of batches costs one paint.
 *
 * The token comes from `#token=…` in the URL (kept out of server logs) or
 * the token box. The page hands it to the server once, which keeps it in an
 * HttpOnly cookie for this browser session, and forgets it: no script on the
 * page can read it back (server/page-session.ts). Without one, an open
 * (loopback, no tokens) server lets the page in.
 */

import { io, type Socket } from 'socket.io-client';
import type { FeedClientEvents, FeedEvents, TopLists } from '../../server/protocol.js';
import { adminAction, getJson, session } from './api.js';
import { GraphView } from './graph-view.js';
import { mountLockFilesPanel } from './lockfiles-view.js';
import { mountClusterPanel } from './cluster-view.js';
import { webLimits } from './limits.js';
import { Model } from './model.js';
import { showOwner } from './owner-view.js';
import { renderDeadlocks, renderDumps, renderGrace, renderHangs, setAdminControls, wireDumpLinks } from './panels.js';
import { renderSeries } from './series-view.js';
import { TableView } from './table-view.js';
import { renderTree } from './tree-view.js';
import { Timeline } from './timeline.js';
import { fetchTop, renderTop } from './top-view.js';
import { readMoment, readView, writeView } from './url-state.js';
import './style.css';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
/** Where earlier versions of this page kept the token, readable by any script on it: removed on load. */
const LEGACY_TOKEN_KEY = 'lockscope-token';

const model = new Model();
/** What the views draw: the live model, or a past moment's while paused. */
let shown: Model = model;
let shownAt: number | null = null;
/** The whole cluster's model while the cluster panel's scope asks for it (read only, polled); null: this node. */
let scoped: Model | null = null;
let top: TopLists | null = null;
/** The top lists for what is shown: the kept window live, up to the moment when paused. */
async function refreshTop(): Promise<void> {
  top = await fetchTop(null, shownAt);
  renderTop($('top'), top, shown);
}
const viewNow = (): number => shownAt ?? Date.now();
const graph = new GraphView($<SVGSVGElement & HTMLElement>('graph'), $('graph-empty'), $('graph-note'), (id) => void showOwner($('owner-detail'), shown, id, viewNow()));
const table = new TableView(model, viewNow, () => writeView(table.filters(), shownAt));
const timeline = new Timeline((s) => {
  // The dump list is not in the history: a past moment shows the dumps taken by then.
  s?.model.setDumps(model.dumps.filter((d) => d.time <= s.at!));
  shown = s?.model ?? scoped ?? model;
  shownAt = s?.at ?? null;
  table.show(shown, shownAt !== null || shown === scoped);
  writeView(table.filters(), shownAt);
  render();
  void refreshTop();
});
let socket: Socket<FeedEvents, FeedClientEvents> | null = null;
let drawnVersion = -1;
let lastApplyMs = 0;

function render(): void {
  const now = viewNow();
  const m = shown;
  graph.render(m, now);
  table.render();
  renderTree($('tree'), m, now);
  renderDeadlocks($('deadlocks'), m);
  renderHangs($('hangs'), m, now);
  renderDumps($('dumps'), m);
  renderGrace($('grace'), $('sessions'), m, now);
  renderSeries($<SVGSVGElement & HTMLElement>('series'), $('series-legend'), m, now);
  renderTop($('top'), top, m);
  const waiting = [...m.rows.values()].filter((r) => r.state !== 'granted').length;
  $('counts').textContent = `${m.rows.size} locks · ${waiting} waiting · ${m.edges.length} wait-for edges · ${m.deadlocks.length} deadlocks`;
  $('node').textContent = shown === scoped ? `cluster: ${scoped.nodes.join(', ')}` : model.node;
  drawnVersion = model.version;
}

function connect(): void {
  socket?.disconnect();
  const s: Socket<FeedEvents, FeedClientEvents> = io('/feed', { transports: ['websocket'] });
  socket = s;
  const conn = $('conn');
  s.on('connect', () => {
    conn.textContent = 'live';
    conn.className = 'pill live';
    subscribeToFilter();
  });
  s.on('disconnect', () => { conn.textContent = 'disconnected'; conn.className = 'pill down'; });
  s.on('connect_error', (err) => {
    const code = (err as Error & { data?: { code?: string } }).data?.code;
    conn.textContent = code === 'EPERM' ? 'token required' : 'cannot connect';
    conn.className = 'pill down';
  });
  s.on('snapshot', (snap) => { model.applySnapshot(snap); });
  s.on('sessions', (list) => model.setSessions(list));
  s.on('dumps', (list) => model.setDumps(list));
  s.on('batch', (b) => {
    const t0 = performance.now();
    model.applyBatch(b);
    lastApplyMs = performance.now() - t0;
    // Events were dropped on the server: the state is no longer exact, so ask for all of it again.
    if (b.overflow) s.emit('refresh');
  });
}

/** The domain filter is applied on the server (a room per domain): only that domain's locks and events come. */
function subscribeToFilter(): void {
  const domain = $<HTMLSelectElement>('f-domain').value;
  socket?.emit('subscribe', { domains: domain === '' ? null : [domain] });
}

async function identify(): Promise<void> {
  try {
    session.role = (await getJson<{ role: typeof session.role }>('/api/whoami')).role;
  } catch {
    session.role = null;
  }
  $('role').textContent = session.role === null ? 'no access' : session.role === 'admin' ? 'admin' : `${session.role} (read only)`;
  setAdminControls();
  table.render(true);
}

/** The server sets (or, for null, clears) the HttpOnly cookie; a refused token leaves the page without access. */
async function signIn(token: string | null): Promise<void> {
  await fetch('/api/page-session', token === null
    ? { method: 'DELETE' }
    : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) }).catch(() => {});
}

function start(): void {
  localStorage.removeItem(LEGACY_TOKEN_KEY);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash !== null) history.replaceState(null, '', location.pathname + location.search);
  const signedIn = fromHash === null ? Promise.resolve() : signIn(fromHash);
  table.setFilters(readView(location.search));
  const at = readMoment(location.search);
  $('f-domain').addEventListener('change', subscribeToFilter);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const box = $<HTMLInputElement>('token');
    const t = box.value.trim();
    box.value = '';
    void signIn(t === '' ? null : t).then(identify).then(connect);
  });
  $('layout-toggle').addEventListener('click', () => {
    $('layout-toggle').textContent = graph.toggleLayout() ? 'force layout' : 'layered layout';
    render();
  });
  $('graph-fit').addEventListener('click', () => graph.fit());
  $('dump-now').addEventListener('click', () => void adminAction('Take a hang-dump of this node now?', '/api/dumps'));
  wireDumpLinks(document.body);
  void signedIn.then(identify).then(() => {
    // After the sign-in: a panel that polled first would be refused (403) while the cookie is being set.
    mountClusterPanel(document.querySelector('main')!, (cluster) => {
      const was = scoped;
      scoped = cluster;
      // This node's dumps: each is a cluster dump, and its links are this node's.
      cluster?.setDumps(model.dumps);
      if (shownAt !== null) return; // a past moment stays shown; the scope applies when back to live
      shown = cluster ?? model;
      if (was !== cluster) table.show(shown, cluster !== null);
      render();
    });
    mountLockFilesPanel(document.querySelector('main')!);
    connect();
    // A link to a moment opens paused there; otherwise the timeline's window is fetched now and again while live.
    void (at === null ? timeline.refresh() : timeline.show(at));
    void refreshTop();
  });
  setInterval(() => {
    if (shownAt !== null || document.visibilityState !== 'visible') return;
    void timeline.refresh();
    void refreshTop();
  }, webLimits.timelineRefreshMs);
  // Durations keep growing without events, so the views redraw on a timer too, never more often than this.
  setInterval(() => { if (model.version !== drawnVersion || document.visibilityState === 'visible') render(); }, webLimits.renderIntervalMs);
}

/** For the tests and the benchmark: the model, and the time the last batch took to apply. */
declare global {
  interface Window { lockscope: { model: Model; shown: () => Model; render: () => void; lastApplyMs: () => number } }
}
window.lockscope = { model, shown: () => shown, render, lastApplyMs: () => lastApplyMs };
start();
