import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { createInbox, type Msg, nanos, type Subscription } from '@nats-io/nats-core';
import { BusUnavailableError } from '#contracts';
import type { Bus } from './bus.js';

/** What a reader needs of the bus: the connection and the JetStream manager. */
export type BusConnection = Pick<Bus, 'nc' | 'jsm'>;

/** A message as a stream stored it. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** When the stream stored it (the server's clock), in milliseconds since the epoch. */
  readonly storedAtMs: number;
  json<T = unknown>(): T;
}

/** The reader's consumer or its pull is gone (NATS restarted, the consumer was removed): open a new reader. */
export class StreamReaderLostError extends BusUnavailableError {}

/** A pull that got no answer this long after its own expiry is taken as lost. */
const PULL_ANSWER_GRACE_MS = 1000;
/** A consumer nobody pulls from for this long is removed by the server (a reader whose process died). */
const INACTIVE_THRESHOLD_MS = 5 * 60_000;

interface Pull {
  readonly max: number;
  readonly messages: StoredMessage[];
  readonly resolve: (messages: StoredMessage[]) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Reads one filter subject of a stream, in stream order, from a sequence on, a batch at a time and only when
 * asked: `next()` answers with every message stored since the last one read (up to `max`) at once, or, when
 * there is none, with the first one to come. Meant for a reader that handles events in groups (a projection
 * writing one statement per group): a consume() has the server deliver each message on its own as it is
 * stored, a wake-up of the reader per event.
 *
 * Written on the JetStream API because nats.js's fetch cannot send `no_wait`, which together with `expires`
 * makes nats-server (2.9 on) answer a pull with what is there, or wait up to `expires` for the first message.
 * The consumer is ephemeral, in memory, without acknowledgements, like nats.js's ordered consumer.
 */
export class StreamBatchReader {
  private pull?: Pull;
  private lost?: Error;
  private closed = false;
  /** The consumer's own sequence of the last delivery: one missing means a message did not arrive. */
  private delivered = 0;

  private readonly inbox = createInbox();
  private readonly subscription: Subscription;

  private constructor(
    private readonly bus: BusConnection,
    private readonly stream: string,
    private readonly consumer: string,
  ) {
    this.subscription = bus.nc.subscribe(this.inbox, {
      callback: (error, msg) =>
        error
          ? this.fail(new StreamReaderLostError(`reading ${this.stream} failed`, { cause: error }))
          : this.receive(msg),
    });
  }

  /** A reader of `filterSubject` in `stream` from `startSeq` (the first sequence it returns, if stored). */
  static async open(
    bus: BusConnection,
    stream: string,
    filterSubject: string,
    startSeq: number,
  ): Promise<StreamBatchReader> {
    const info = await bus.jsm.consumers.add(stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, startSeq),
      filter_subject: filterSubject,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_THRESHOLD_MS),
    });
    return new StreamBatchReader(bus, stream, info.name);
  }

  /**
   * Up to `max` messages past the last one returned: those stored already, in one answer, or else the first
   * to be stored within `waitMs` (an empty array if none is). One call at a time. Rejects with
   * StreamReaderLostError when the consumer is gone; resolves empty once the reader is closed.
   */
  next(max: number, waitMs: number): Promise<StoredMessage[]> {
    if (this.closed) return Promise.resolve([]);
    if (this.lost) return Promise.reject(this.lost);
    if (this.pull) return Promise.reject(new Error('StreamBatchReader.next() called while a pull is open'));
    return new Promise<StoredMessage[]>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(new StreamReaderLostError(`no answer to a pull from ${this.stream} within ${waitMs} ms`)),
        waitMs + PULL_ANSWER_GRACE_MS,
      );
      this.pull = { max, messages: [], resolve, reject, timer };
      try {
        this.bus.nc.publish(
          `$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.consumer}`,
          JSON.stringify({ batch: max, no_wait: true, expires: nanos(waitMs) }),
          { reply: this.inbox },
        );
      } catch (error) {
        this.fail(new StreamReaderLostError(`cannot ask ${this.stream} for messages`, { cause: error }));
      }
    });
  }

  /** Ends the open pull (it resolves empty), stops reading and removes the consumer from the server. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscription.unsubscribe();
    const pull = this.pull;
    this.pull = undefined;
    if (pull) {
      clearTimeout(pull.timer);
      pull.resolve([]);
    }
    await this.bus.jsm.consumers.delete(this.stream, this.consumer).catch(() => undefined); // NATS away: it expires
  }

  private receive(msg: Msg): void {
    const pull = this.pull;
    if (!pull) return;
    const status = msg.headers?.code ?? 0;
    if (status === 0 || status === 200) {
      const delivery = parseDelivery(msg);
      if (!delivery || delivery.consumerSeq !== this.delivered + 1) {
        this.fail(
          new StreamReaderLostError(`a delivery from ${this.stream} is missing or unreadable (${msg.reply})`),
        );
        return;
      }
      this.delivered = delivery.consumerSeq;
      pull.messages.push(delivery.message);
      if (pull.messages.length >= pull.max) this.finish();
    } else if (status === 404 || status === 408) {
      this.finish(); // nothing more stored now (404), or the wait is over (408)
    } else if (status !== 100) {
      // 409: the consumer was deleted, its leader changed, or the request was refused; read on from a new one
      this.fail(
        new StreamReaderLostError(`a pull from ${this.stream} ended: ${status} ${msg.headers?.description}`),
      );
    }
  }

  /** Resolves the open pull with what it got. */
  private finish(): void {
    const pull = this.pull;
    if (!pull) return;
    this.pull = undefined;
    clearTimeout(pull.timer);
    pull.resolve(pull.messages);
  }

  /** The consumer is lost: what the open pull got is kept for the caller; the next call rejects. */
  private fail(error: Error): void {
    this.lost = error;
    const pull = this.pull;
    if (!pull) return;
    this.pull = undefined;
    clearTimeout(pull.timer);
    if (pull.messages.length > 0) pull.resolve(pull.messages);
    else pull.reject(error);
  }
}

/**
 * A delivery's stream sequence, consumer sequence and time, from its reply subject (as nats.js reads it):
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<nanos>.<pending>`, or the longer form
 * with `<domain>.<account hash>` after `ACK` and a random token at the end. Undefined for anything else.
 * (Exported for its unit spec.)
 */
export function parseDelivery(msg: Msg): { message: StoredMessage; consumerSeq: number } | undefined {
  const tokens = (msg.reply ?? '').split('.');
  if (tokens.length === 9) tokens.splice(2, 0, '_', '');
  if (tokens.length < 11 || tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const message: StoredMessage = {
    seq: Number(tokens[7]),
    subject: msg.subject,
    data: msg.data,
    storedAtMs: Math.floor(Number(tokens[9]) / 1_000_000),
    json: <T>() => msg.json<T>(),
  };
  return { message, consumerSeq: Number(tokens[8]) };
}
