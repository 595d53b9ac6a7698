import type { ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import type { Bus } from '#bus';
import type { FeedKind } from './feed-kinds.js';
import { type SseConnection, SseFrame } from './sse-connection.js';
import type { StoredEvent } from './stored-event.js';
import { type StreamBounds, StreamHistory } from './stream-history.js';
import { ALL_KEYS, StreamTail, type TailSubscription } from './stream-tail.js';

/** What a feed needs from the gateway's SSE hub: connections with the settings and metrics. */
export interface SseHost {
  open(res: ServerResponse, label: string): SseConnection;
  sent(label: string, event: string): void;
  /** An event of a feed read from the bus. */
  received(role: string): void;
  /** The bound of a slow client's queue, also applied to live events held during its catch-up. */
  readonly queueLimit: number;
  readonly queueBytes: number;
}

/** Keys a connection asks for: some ids, or every key of the stream (the outbox without a source). */
export type FeedKeys = readonly string[] | typeof ALL_KEYS;

const RETRY_MS = [100, 250, 500, 1000, 2000];
/** The reset marker of a connection that follows every key. */
const ALL = '*';

/**
 * One stream served over SSE (SPEC 4.2): the one engine behind build, trigger and outbox streams.
 * Live events come from the gateway's one tail of the stream; history (the first snapshot, a resume from
 * Last-Event-ID) is read by direct get up to the tail's position when the connection joined, and the live
 * events that arrive meanwhile are held and sent after it: no gap and no duplicate at the join, and no
 * consumer per connection on the server.
 */
export class EventFeed {
  readonly tail: StreamTail;
  readonly history: StreamHistory;
  private readonly connections = new Set<SseConnection>();

  constructor(
    private readonly bus: Bus,
    private readonly host: SseHost,
    readonly kind: FeedKind,
  ) {
    const stream = bus.subjects.streamName(kind.role);
    this.tail = new StreamTail(
      bus,
      stream,
      kind.allSubjects,
      kind.keyOf,
      () => this.endAll(),
      () => host.received(kind.role),
    );
    this.history = new StreamHistory(bus, stream, kind.keyOf);
  }

  /**
   * Answers one SSE request. A resume at or past the terminal events of every key is a 204 (which stops
   * EventSource); otherwise the stream opens at once, also while NATS is away (served when it returns).
   */
  async serve(
    keys: FeedKeys,
    lastEventId: number | undefined,
    res: ServerResponse,
    /** Only the events this accepts (a token that may read some builds, wake some agents). */
    accept?: (event: StoredEvent) => boolean,
  ): Promise<void> {
    if (lastEventId !== undefined && keys !== ALL_KEYS && this.kind.status && this.bus.isConnected()) {
      const ended = await this.allEndedBy(keys, lastEventId).catch(() => false); // unknown: serve
      if (ended) {
        res.statusCode = 204;
        res.end();
        return;
      }
    }
    const label = keys !== ALL_KEYS && keys.length === 1 ? this.kind.label : `${this.kind.label}s`;
    const sse = this.host.open(res, label);
    this.connections.add(sse);
    sse.onClose(() => this.connections.delete(sse));
    new FeedConnection(this, this.host, sse, keys, lastEventId, label, accept).start();
  }

  /** Tells the clients of keys that went quiet for longer than `quietMs` (status feeds only). */
  sweepStale(quietMs: number, nowMs: number): void {
    if (!this.kind.status) return;
    this.tail.sweepStale((event) => this.terminalState(event) === undefined, quietMs, nowMs);
  }

  /** A key's newest event: as the tail knows it, else read from the stream (and then kept by the tail). */
  async newest(key: string, subject: string): Promise<StoredEvent | undefined> {
    const known = key === ALL ? undefined : this.tail.newestOf(key);
    if (known !== undefined) return known ?? undefined;
    const read = await this.history.latest(subject);
    if (key !== ALL) this.tail.rememberNewest(key, read ?? null);
    return read;
  }

  /** Every key's newest event is terminal and at or before `lastEventId` (of this stream, not one replaced). */
  private async allEndedBy(keys: readonly string[], lastEventId: number): Promise<boolean> {
    const bounds = await this.history.bounds();
    if (lastEventId > bounds.lastSeq) return false;
    for (const key of keys) {
      const latest = await this.newest(key, this.kind.subjectFor(key));
      if (!latest || latest.seq > lastEventId || this.terminalState(latest) === undefined) return false;
    }
    return true;
  }

  /** The state of a status event that ends its key; undefined for any other event. */
  terminalState(event: StoredEvent): string | undefined {
    const rules = this.kind.status;
    const state = rules && event.payloadField(rules.stateField);
    return state !== undefined && rules!.terminal.has(state) ? state : undefined;
  }

  private endAll(): void {
    for (const sse of this.connections) sse.end();
  }
}

/**
 * One connection's way through a feed: subscribe to the tail (live events are held), catch up from the
 * stream up to where the tail was, send the held events, then follow live. `watermark` is the last sequence
 * sent: nothing at or below it is sent again, so the join needs no more care than that.
 */
class FeedConnection {
  private static readonly logger = new Logger(FeedConnection.name);
  /** Live events that arrived during the catch-up; undefined once the connection follows live. */
  private held: StoredEvent[] | undefined = [];
  private heldBytes = 0;
  private watermark: number;
  /** Keys whose terminal event the client has, with that state. */
  // Made on first use: most connections never need them, and 10,000 empty ones cost megabytes.
  private ended?: Map<string, string>;
  private needsReset?: Set<string>;
  private subscription!: TailSubscription;
  private finished = false;

  constructor(
    private readonly feed: EventFeed,
    private readonly host: SseHost,
    private readonly sse: SseConnection,
    private readonly keys: FeedKeys,
    private readonly lastEventId: number | undefined,
    private readonly label: string,
    private readonly accept?: (event: StoredEvent) => boolean,
  ) {
    this.watermark = lastEventId ?? 0;
  }

  start(): void {
    this.subscription = this.feed.tail.subscribe(this.keys, (event, stale) =>
      stale ? this.onStale(event) : this.onLive(event),
    );
    this.sse.onClose(() => {
      this.finished = true;
      this.subscription.unsubscribe();
    });
    void this.catchUp();
  }

  /** Every key this connection follows has ended (a stream of every key never does). */
  private allEnded(): boolean {
    return this.keys !== ALL_KEYS && this.ended !== undefined && this.ended.size === this.keys.length;
  }

  private onLive(event: StoredEvent): void {
    if (this.finished) return;
    if (!this.held) {
      this.emit(event);
      return;
    }
    this.held.push(event);
    this.heldBytes += event.data.length;
    // Too far behind before it even caught up: the client resumes from its last id.
    if (this.held.length > this.host.queueLimit || this.heldBytes > this.host.queueBytes) this.sse.drop();
  }

  /** The build went quiet: `event: stale` (no id: it is not a stream event, and a resume says it again). */
  private onStale(event: StoredEvent): void {
    const rules = this.feed.kind.status;
    if (this.finished || this.held || !rules || event.key === undefined) return;
    const data = {
      [rules.idField]: event.key,
      [rules.stateField]: event.payloadField(rules.stateField),
      stale: true,
      received_at: new Date(event.storedAtMs).toISOString(),
    };
    this.sse.send(new SseFrame('stale', JSON.stringify(data)));
    this.host.sent(this.label, 'stale');
  }

  private async catchUp(): Promise<void> {
    const upTo = await this.subscription.from;
    for (let attempt = 0; !this.finished; attempt++) {
      try {
        await this.replay(upTo);
        break;
      } catch (error) {
        if (this.finished) return;
        if (attempt === 0)
          FeedConnection.logger.debug(
            { stream: this.feed.history.stream, err: error },
            'catch-up waits for NATS; the connection stays open',
          );
        await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
      }
    }
    // The join: the held live events, in order; those the catch-up already sent are skipped by the watermark.
    while (!this.finished && this.held && this.held.length > 0) {
      const next = this.held.shift()!;
      this.heldBytes -= next.data.length;
      await this.sse.whenWritable();
      this.emit(next);
    }
    this.held = undefined;
    // a stream of everything kept (logs) says where what was kept ends, so `logs` without -f can stop there
    if (!this.finished && this.feed.kind.snapshotAll) {
      this.sse.send(new SseFrame('caught-up', JSON.stringify({ last_event_id: this.watermark })));
    }
    if (!this.finished && this.allEnded()) this.finish();
    // a client that joins a build already said to be quiet hears it too
    if (this.keys !== ALL_KEYS)
      for (const key of this.keys) {
        const quiet = this.feed.tail.staleEventOf(key);
        if (quiet) this.onStale(quiet);
      }
  }

  /** The history this connection needs, at or below `upTo`, sent at the pace the client reads it. */
  private async replay(upTo: number): Promise<void> {
    const sources = this.lastEventId === undefined ? await this.snapshot(upTo) : await this.resume(upTo);
    for await (const event of mergeBySeq(sources)) {
      if (this.finished) return;
      await this.sse.whenWritable();
      this.emit(event);
    }
  }

  /** Without Last-Event-ID: the newest event of each key (of the stream, without keys), or all (logs). */
  private async snapshot(upTo: number): Promise<HistorySource[]> {
    const sources: HistorySource[] = [];
    for (const { key, subject } of this.subjects()) {
      const latest = await this.feed.newest(key, subject);
      if (latest && this.feed.kind.snapshotAll) sources.push(this.feed.history.between(subject, 0, upTo));
      else if (latest && latest.seq <= upTo) sources.push([latest]);
      // An id nobody has written yet (a typo, or a build not started): say so rather than stay silent.
      if (!latest && this.keys !== ALL_KEYS) {
        this.sse.comment(`no events yet for ${this.feed.kind.label} ${key}; waiting for its first`);
      }
    }
    return sources;
  }

  /**
   * With Last-Event-ID N (or, on a retry, the last id sent): per key, every event after N if the stream
   * still holds them all; else `reset` with the newest. A key whose newest event is at or before N has
   * nothing to send; if that event was terminal, the key has ended already.
   */
  private async resume(upTo: number): Promise<HistorySource[]> {
    const history = this.feed.history;
    const bounds: StreamBounds = await history.bounds();
    if (this.watermark > bounds.lastSeq) {
      // The client's ids belong to a stream that was made anew: everything it holds is stale.
      this.watermark = 0;
      for (const { key } of this.subjects()) (this.needsReset ??= new Set()).add(key);
    }
    const from = this.watermark;
    const sources: HistorySource[] = [];
    for (const { key, subject } of this.subjects()) {
      const latest = await this.feed.newest(key, subject);
      if (!latest) continue;
      if (latest.seq <= from && !this.needsReset?.has(key)) {
        const state = this.feed.terminalState(latest);
        if (state !== undefined) (this.ended ??= new Map()).set(key, state);
        continue;
      }
      if (!this.needsReset?.has(key) && (await history.retainedAfter(subject, from, bounds))) {
        sources.push(history.between(subject, from, upTo));
        continue;
      }
      (this.needsReset ??= new Set()).add(key);
      // A newest event past the join comes live; the first one then goes out as the reset.
      if (latest.seq <= upTo) sources.push([latest]);
    }
    if (this.allEnded()) {
      // Every key had ended before the resume point (NATS was away at the request, so no 204 then):
      // say so, and close; the client's next attempt gets the 204.
      for (const [key, state] of this.ended ?? []) this.sendEnd(key, state);
      this.finish();
    }
    return sources;
  }

  private subjects(): { key: string; subject: string }[] {
    if (this.keys === ALL_KEYS) return [{ key: ALL, subject: this.feed.kind.allSubjects }];
    return this.keys.map((key) => ({ key, subject: this.feed.kind.subjectFor(key) }));
  }

  private emit(event: StoredEvent): void {
    if (this.finished || event.seq <= this.watermark) return;
    this.watermark = event.seq;
    if (this.accept && !this.accept(event)) return;
    const kind = this.feed.kind;
    // the entity the event is about: conflation and `end` are per build even on a connection to every build
    const key = event.key ?? ALL;
    // a reset is owed per key asked for; a connection to every key has one
    const resetKey = this.keys === ALL_KEYS ? ALL : key;
    const state = kind.status && event.payloadField(kind.status.stateField);
    if (kind.status && state === undefined) {
      FeedConnection.logger.warn(
        { seq: event.seq, subject: event.subject },
        'skipping a status event that is not one',
      );
      return;
    }
    const frame = this.needsReset?.delete(resetKey)
      ? event.frame('reset') // never conflated: it has no conflation key
      : event.frame(kind.event, kind.status ? key : undefined);
    this.sse.send(frame);
    this.host.sent(this.label, frame.event);
    if (!kind.status || state === undefined) return;
    if (!kind.status.terminal.has(state)) {
      this.ended?.delete(key); // the same id started again
      return;
    }
    this.sendEnd(key, state);
    if (this.keys === ALL_KEYS) return; // a stream of every key goes on
    (this.ended ??= new Map()).set(key, state);
    if (this.allEnded()) this.finish();
  }

  private sendEnd(key: string, state: string): void {
    const rules = this.feed.kind.status;
    if (!rules) return;
    this.sse.send(new SseFrame('end', JSON.stringify({ [rules.idField]: key, [rules.stateField]: state })));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.subscription.unsubscribe();
    this.sse.end();
  }
}

/** Events of one key (or of the whole stream) in sequence order: read from the stream, or the one newest. */
type HistorySource = AsyncIterable<StoredEvent> | StoredEvent[];

/** Several in-order sources as one, in sequence order (each key's history is read on its own subject). */
async function* mergeBySeq(sources: HistorySource[]): AsyncGenerator<StoredEvent> {
  const iterators: AsyncIterator<StoredEvent>[] = sources.map((source) =>
    Array.isArray(source) ? arrayIterator(source) : source[Symbol.asyncIterator](),
  );
  const heads = await Promise.all(iterators.map((iterator) => iterator.next()));
  for (;;) {
    let min = -1;
    for (let i = 0; i < heads.length; i++) {
      if (heads[i].done) continue;
      if (min < 0 || (heads[i].value as StoredEvent).seq < (heads[min].value as StoredEvent).seq) min = i;
    }
    if (min < 0) return;
    yield heads[min].value as StoredEvent;
    heads[min] = await iterators[min].next();
  }
}

function arrayIterator(events: StoredEvent[]): AsyncIterator<StoredEvent> {
  let next = 0;
  return {
    next: () =>
      Promise.resolve(
        next < events.length ? { done: false, value: events[next++] } : { done: true, value: undefined },
      ),
  };
}
