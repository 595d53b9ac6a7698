// Every build the page knows, kept current by one stream of every build (/events?builds=*), shared by the
// list and the build pages.
import { api } from './api.js';
import { staleMinutes, terminalStatuses } from './config.js';
import { LiveStream } from './live.js';

/** build id → {build_id, latest, received_at, last_event_id, stale} (the shape of GET /builds items). */
export const builds = new Map();
const listeners = new Set();
let stream;
export let nextCursor = null;
export let loadError = null;

export function onBuilds(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
function changed(buildId, isNew) {
  for (const listener of listeners) listener(buildId, isNew);
}

/**
 * Takes a build as the list or a stream tells it; an older view than the one held is ignored, unless it comes
 * with a `reset` (the stream was made anew, and its ids started again).
 */
export function remember(view, reset = false) {
  const held = builds.get(view.build_id);
  if (held && held.last_event_id >= view.last_event_id && !reset) return;
  builds.set(view.build_id, view);
  changed(view.build_id, !held);
}

function fromEvent(envelope, id, reset) {
  remember(
    {
      build_id: envelope.payload.build_id,
      latest: envelope.payload,
      received_at: envelope.timestamp,
      last_event_id: id ?? 0,
      stale: false,
    },
    reset,
  );
}

/**
 * Starts following every build: the stream first (so nothing that happens during the list's load is lost),
 * then the newest page of the list. Safe to call again (after a sign-in).
 */
export async function start() {
  if (!stream) {
    stream = new LiveStream('/events?builds=*', ['status', 'reset'], (name, envelope, id) => {
      fromEvent(envelope, id, name === 'reset');
      if (name === 'reset') void loadPage(); // it missed some: the list says where each build stands
    });
  }
  await loadPage();
}

export function stop() {
  stream?.close();
  stream = undefined;
}

export async function loadPage(cursor) {
  try {
    const page = await api(`/builds?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    for (const view of page.items) remember(view);
    nextCursor = page.next_cursor;
    loadError = null;
  } catch (error) {
    loadError = error;
  }
  changed(undefined, false);
}

export function isTerminal(status) {
  return terminalStatuses.has(status);
}

/** Not finished and nothing received for BUILD_STALE_MINUTES (the gateway also says so when the list loads). */
export function isStale(view, now = Date.now()) {
  if (isTerminal(view.latest.status)) return false;
  return view.stale || now - Date.parse(view.received_at) > staleMinutes * 60_000;
}

/**
 * How long it has run, on the gateway's clock: the writer's own times are shifted by how far its clock is from
 * the moment its latest event was received (GuardKit stamps local time with a Z).
 */
export function elapsedMs(view, now = Date.now()) {
  const received = Date.parse(view.received_at);
  const started = Date.parse(view.latest.started_at ?? '');
  const written = Date.parse(view.latest.updated_at ?? '');
  if (!Number.isFinite(started) || !Number.isFinite(written)) return NaN;
  const end = isTerminal(view.latest.status) ? received : now;
  return end - (started + (received - written));
}
