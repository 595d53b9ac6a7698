// One SSE stream of the gateway, kept open: EventSource resumes by itself after a dropped connection (it sends
// Last-Event-ID); when it gives up (the gateway answered an error while restarting, or asked for a new token)
// this opens it again from the last id it handled, so no event is shown twice and none is missed.
import { ApiError, checkReadiness, setHealth } from './api.js';

const streams = new Set();
const RETRY_MS = [500, 1000, 2000, 5000, 10000];

function reportState() {
  const states = [...streams].map((s) => s.state);
  setHealth(
    'live',
    states.includes('reconnecting') ? 'reconnecting' : states.includes('connecting') ? 'connecting' : 'live',
  );
}

export class LiveStream {
  /**
   * @param path the stream's URL (a resume adds `lastEventId`)
   * @param events the event names to hand to `onEvent(name, data, id)`
   * @param options.from an event id to start after (the page already shows everything up to it)
   */
  constructor(path, events, onEvent, { from, onEnd, onRefused } = {}) {
    this.path = path;
    this.onRefused = onRefused;
    this.events = events;
    this.onEvent = onEvent;
    this.onEnd = onEnd;
    this.lastId = from;
    this.state = 'connecting';
    this.closed = false;
    this.failures = 0;
    streams.add(this);
    this.open();
  }

  open() {
    if (this.closed) return;
    const url = new URL(this.path, location.href);
    if (this.lastId !== undefined) url.searchParams.set('lastEventId', String(this.lastId));
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      // it answers again: say what else is back (NATS) rather than what was true while it was away
      if (this.state === 'reconnecting') void checkReadiness();
      setHealth('gateway', 'up');
      this.setState('live');
    };
    source.onerror = () => {
      if (this.closed || source !== this.source) return;
      this.setState('reconnecting');
      void checkReadiness();
      // CONNECTING: EventSource tries again by itself; CLOSED: it gave up, so we try again
      if (source.readyState === EventSource.CLOSED) this.reopenLater();
    };
    for (const name of this.events) {
      source.addEventListener(name, (e) => {
        const id = e.lastEventId === '' ? undefined : Number(e.lastEventId);
        // ids ascend on a stream: one at or below the last handled was shown already
        if (id !== undefined && e.type !== 'reset' && this.lastId !== undefined && id <= this.lastId) return;
        if (id !== undefined) this.lastId = id;
        this.onEvent(name, JSON.parse(e.data), id);
      });
    }
    source.addEventListener('end', (e) => {
      if (this.onEnd && this.onEnd(JSON.parse(e.data)) === 'close') this.close('ended');
    });
    // the token runs out soon: come back with the cookie (a sign-in shows if it is no longer valid)
    source.addEventListener('reauth', () => {
      source.close();
      this.reopenLater();
    });
  }

  /** Before opening again, ask once: a 204 means it ended, a 401 that a sign-in is needed. */
  reopenLater() {
    this.source?.close();
    const wait = RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)];
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      if (this.closed) return;
      const url = new URL(this.path, location.href);
      if (this.lastId !== undefined) url.searchParams.set('lastEventId', String(this.lastId));
      const probe = new AbortController();
      try {
        const res = await fetch(url, { credentials: 'same-origin', signal: probe.signal });
        if (res.ok) probe.abort(); // an open stream: only its status was wanted
        if (res.status === 204) return this.close('ended');
        if (res.status === 401) {
          setHealth('auth', 'needed');
          return this.close('signin');
        }
        if (res.ok) return this.open();
        if (res.status === 403 || res.status === 400 || res.status === 404) {
          // asking again will not change the answer
          const answer = await res.json().catch(() => ({}));
          this.onRefused?.(new ApiError(res.status, answer.error, answer.message));
          return this.close('refused');
        }
      } catch {
        setHealth('gateway', 'down');
      }
      this.reopenLater();
    }, wait);
  }

  setState(state) {
    this.state = state;
    reportState();
  }

  close(state = 'closed') {
    this.closed = true;
    this.state = state;
    clearTimeout(this.timer);
    this.source?.close();
    streams.delete(this);
    reportState();
  }
}

/** Every stream that gave up for want of a token starts again after a sign-in. */
export function closeAll() {
  for (const stream of [...streams]) stream.close();
}
