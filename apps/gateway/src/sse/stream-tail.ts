import { Logger } from '@nestjs/common';
import { type Consumer, type ConsumerMessages, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { type Bus, ORDERED_PULL_EXPIRES_MS, releaseOrdered } from '#bus';
import { StoredEvent } from './stored-event.js';

/** A live event of a key; `stale`: no event since this one for longer than the feed allows (said once). */
export type TailListener = (event: StoredEvent, stale?: boolean) => void;

/** Subscribes to every key of the stream (the outbox without a source). */
export const ALL_KEYS = Symbol('all keys');

export interface TailSubscription {
  /**
   * The last sequence the tail had dispatched when the listener joined: the listener gets every event after
   * it, so a catch-up reads the stream up to here and the two join without a gap or a duplicate.
   */
  readonly from: Promise<number>;
  unsubscribe(): void;
}

/** Waits between attempts to (re)start the consumer: quick at first, since NATS is usually just back. */
const RETRY_MS = [100, 250, 500, 1000, 2000];

/**
 * The gateway's one live reader of a stream, shared by every SSE connection (SPEC 4.2 "scale"): an ordered
 * consumer over all the stream's subjects, fanned out in process by key. An ordered consumer rather than a
 * core subscription because SSE ids are stream sequences, which only JetStream deliveries carry.
 *
 * It keeps its position (the last sequence dispatched). When NATS reconnects it does not wait for missed
 * heartbeats: it drops the consumer and starts a new one at position + 1 at once, retrying while JetStream
 * recovers, so live delivery resumes within moments and the gap comes in order. A stream found shorter than
 * the position was replaced: `onReplaced` lets the connections end, and their clients resume (with a reset).
 */
export class StreamTail {
  private readonly logger = new Logger(StreamTail.name);
  private readonly byKey = new Map<string, Set<TailListener>>();
  private readonly everything = new Set<TailListener>();
  /**
   * The newest event of each key that has listeners: 10,000 clients of 100 builds cost 100 reads of the
   * stream for their first snapshot, not 10,000. Dropped with the key's last listener.
   */
  private readonly newest = new Map<string, StoredEvent | null>();
  /** Keys already told they are stale, until their next event. */
  private readonly staleSaid = new Set<string>();
  /** The last sequence dispatched; undefined until the tail has found the stream's end once. */
  private position?: number;
  private readonly started: Promise<number>;
  private markStarted!: (position: number) => void;
  private current?: { consumer: Consumer; messages: ConsumerMessages; release: () => Promise<void> };
  private live = false;
  private pausedAt?: number;
  private stopped = false;
  private wake?: () => void;

  constructor(
    private readonly bus: Bus,
    readonly stream: string,
    private readonly filter: string,
    private readonly keyOf: (subject: string) => string | undefined,
    private readonly onReplaced: () => void,
    /** Each event read from the stream (counted for guardkit_cpu_ms_per_event). */
    private readonly onEvent: () => void = () => undefined,
  ) {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /** Whether live delivery flows: the consumer is up and NATS connected. */
  get flowing(): boolean {
    return this.live && this.bus.isConnected();
  }

  subscribe(keys: readonly string[] | typeof ALL_KEYS, listener: TailListener): TailSubscription {
    if (keys === ALL_KEYS) this.everything.add(listener);
    else for (const key of keys) this.setFor(key).add(listener);
    return {
      from: this.position === undefined ? this.started : Promise.resolve(this.position),
      unsubscribe: () => {
        if (keys === ALL_KEYS) {
          this.everything.delete(listener);
          return;
        }
        for (const key of keys) {
          const set = this.byKey.get(key);
          set?.delete(listener);
          if (set?.size === 0) {
            this.byKey.delete(key);
            this.newest.delete(key);
            this.staleSaid.delete(key);
          }
        }
      },
    };
  }

  /** The newest event of a key with listeners as far as the tail knows; null: it has none; undefined: unknown. */
  newestOf(key: string): StoredEvent | null | undefined {
    return this.newest.get(key);
  }

  /**
   * Keeps an event read from the stream (or null: the key had none) as the key's newest, unless the tail
   * knows a newer one.
   */
  rememberNewest(key: string, event: StoredEvent | null): void {
    if (!this.byKey.has(key)) return;
    const known = this.newest.get(key);
    if (known === undefined || (event && (!known || known.seq < event.seq))) this.newest.set(key, event);
  }

  /**
   * Tells the listeners of each key whose newest event `isOpen` and is older than `quietMs` that it went
   * quiet: once, until the key's next event.
   */
  sweepStale(isOpen: (event: StoredEvent) => boolean, quietMs: number, nowMs: number): void {
    for (const [key, event] of this.newest) {
      if (!event || this.staleSaid.has(key) || !isOpen(event) || nowMs - event.storedAtMs <= quietMs)
        continue;
      this.staleSaid.add(key);
      for (const listener of this.byKey.get(key) ?? []) listener(event, true);
    }
  }

  /** The newest event of a key that was said to be stale (and has had no event since), if so. */
  staleEventOf(key: string): StoredEvent | undefined {
    return this.staleSaid.has(key) ? (this.newest.get(key) ?? undefined) : undefined;
  }

  start(): void {
    void this.run();
    void this.watchConnection();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.current?.release();
  }

  private setFor(key: string): Set<TailListener> {
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    return set;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      try {
        await this.follow();
        attempt = 0;
        if (!this.stopped) await this.pause(RETRY_MS[0]); // never spin on a consumer that ends at once
      } catch (error) {
        if (this.stopped) return;
        if (attempt === 0 || attempt === RETRY_MS.length)
          this.logger.warn(
            { stream: this.stream, err: error },
            'live delivery cannot start yet; retrying while NATS recovers',
          );
        await this.pause(RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]);
      }
    }
  }

  /** One consumer's life: from position + 1 until it ends (NATS reconnected, or the tail stopped). */
  private async follow(): Promise<void> {
    const { state } = await this.bus.jsm.streams.info(this.stream);
    if (this.position === undefined) {
      this.position = state.last_seq;
      this.markStarted(this.position);
    } else if (state.last_seq < this.position) {
      this.logger.warn(
        { stream: this.stream, position: this.position, last_seq: state.last_seq },
        'the stream was replaced: its sequences start over; ending its SSE connections so they resume',
      );
      this.position = state.last_seq;
      this.onReplaced();
    }
    const consumer = await this.bus.js.consumers.get(this.stream, {
      filter_subjects: this.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.position + 1,
    });
    // A deep buffer: a burst reaches the gateway at once rather than in pulls of 100 (bench:fanout). A callback
    // rather than the async iterator: each message is dispatched as it is parsed, without a promise per message.
    const messages = await consumer.consume({
      expires: ORDERED_PULL_EXPIRES_MS,
      max_messages: 1000,
      callback: (msg) => this.dispatch(msg),
    });
    const release = releaseOrdered(consumer, messages);
    this.current = { consumer, messages, release };
    if (this.stopped) return release();
    this.live = true;
    if (this.pausedAt !== undefined) {
      this.logger.log(
        {
          stream: this.stream,
          from: this.position + 1,
          behind: state.last_seq - this.position,
          paused_ms: Date.now() - this.pausedAt,
        },
        'live delivery resumed: catching up the events of the outage in order',
      );
      this.pausedAt = undefined;
    }
    try {
      // ends when NATS reconnected (watchConnection closes it), the tail stopped, or the consumer failed
      const failure = await messages.closed();
      if (failure) throw failure;
    } finally {
      this.live = false;
      await release();
    }
  }

  private dispatch(msg: JsMsg): void {
    if (this.position !== undefined && msg.seq <= this.position) return;
    this.position = msg.seq;
    this.onEvent();
    const key = this.keyOf(msg.subject);
    const keyed = key === undefined ? undefined : this.byKey.get(key);
    if (!keyed && this.everything.size === 0) return;
    const event = new StoredEvent(
      msg.seq,
      msg.subject,
      key,
      msg.data,
      Math.floor(msg.info.timestampNanos / 1_000_000),
    );
    if (key !== undefined) this.staleSaid.delete(key);
    if (keyed) this.rememberNewest(key!, event); // never older than one read from the stream after an outage
    for (const listener of keyed ?? []) this.deliver(listener, event);
    for (const listener of this.everything) this.deliver(listener, event);
  }

  private deliver(listener: TailListener, event: StoredEvent): void {
    try {
      listener(event);
    } catch (error) {
      this.logger.error({ stream: this.stream, seq: event.seq, err: error }, 'an SSE listener failed');
    }
  }

  /**
   * nats.js notices a consumer lost in a NATS restart only after two missed heartbeats; the tail starts a new
   * one as soon as the connection is back instead.
   */
  private async watchConnection(): Promise<void> {
    for await (const status of this.bus.nc.status()) {
      if (this.stopped) return;
      if (status.type === 'disconnect' && this.pausedAt === undefined) this.pausedAt = Date.now();
      if (status.type === 'reconnect') void this.current?.messages.close();
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
