import type { StoredMsg } from '@nats-io/jetstream';
import { type Bus, readStoredMessage, type StoredMessageQuery } from '#bus';
import { StoredEvent } from './stored-event.js';

/** What a resume needs to know of the stream as a whole. */
export interface StreamBounds {
  firstSeq: number;
  lastSeq: number;
  /** -1: no per-subject limit. */
  maxMsgsPerSubject: number;
}

/**
 * Reads what a stream still holds, for catch-up (SPEC 4.2), one message at a time with `readStoredMessage` (as
 * the stream's leader holds it, so on a replicated stream too a replay reaches the live tail's position). No
 * consumer: a connection's history leaves nothing on the server when it closes, and one subject is read the
 * same way on nats-server 2.9 as on 2.10+. A full replay of 10,000 events takes about 2.5 s on the development
 * machine, and replays are rare next to live delivery.
 */
export class StreamHistory {
  constructor(
    private readonly bus: Bus,
    readonly stream: string,
    private readonly keyOf: (subject: string) => string | undefined,
  ) {}

  async bounds(): Promise<StreamBounds> {
    const { state, config } = await this.bus.jsm.streams.info(this.stream);
    return {
      firstSeq: state.first_seq,
      lastSeq: state.last_seq,
      maxMsgsPerSubject: config.max_msgs_per_subject ?? -1,
    };
  }

  /** The newest message on `subject` (a wildcard: the newest of all it matches). */
  async latest(subject: string): Promise<StoredEvent | undefined> {
    return this.toEvent(await this.read({ last_by_subj: subject }));
  }

  /** Every message on `subject` with a sequence in (afterSeq, upTo], in order. */
  async *between(subject: string, afterSeq: number, upTo: number): AsyncGenerator<StoredEvent> {
    let seq = afterSeq + 1;
    while (seq <= upTo) {
      const msg = await this.read({ seq, next_by_subj: subject });
      if (!msg || msg.seq > upTo) return;
      yield this.toEvent(msg)!;
      seq = msg.seq + 1;
    }
  }

  /**
   * Whether the stream still holds every message on `subject` after sequence `n`, judged for that subject, not
   * for the stream (SPEC 4.2). Limits remove the oldest messages first, of the stream (age, bytes) and of each
   * subject (max_msgs_per_subject), so nothing after n is gone when either
   * - the subject still has a message at or before n, or
   * - nothing after n was removed from the stream as a whole (its first sequence is at most n + 1) and the
   *   subject never reached its own limit (fewer messages than the limit now means none was ever trimmed,
   *   since only that trimming removes a subject's messages past n).
   * A wildcard over a limited stream is judged conservatively: a reset where it cannot be sure.
   */
  async retainedAfter(subject: string, n: number, bounds: StreamBounds): Promise<boolean> {
    if (n > bounds.lastSeq) return false; // an id the stream never reached: the stream was made anew
    const limit = bounds.maxMsgsPerSubject;
    if (bounds.firstSeq <= n + 1 && (limit < 0 || (await this.subjectCounts(subject)) < limit)) return true;
    if (limit >= 0 && /[*>]/.test(subject)) return false;
    const first = await this.read({ seq: 0, next_by_subj: subject });
    return first !== null && first.seq <= n;
  }

  /** The largest message count of the subjects `subject` matches. */
  private async subjectCounts(subject: string): Promise<number> {
    const { state } = await this.bus.jsm.streams.info(this.stream, { subjects_filter: subject });
    return Math.max(0, ...Object.values(state.subjects ?? {}));
  }

  private read(query: StoredMessageQuery): Promise<StoredMsg | null> {
    return readStoredMessage(this.bus.jsm, this.stream, query);
  }

  private toEvent(msg: StoredMsg | null): StoredEvent | undefined {
    return msg
      ? new StoredEvent(msg.seq, msg.subject, this.keyOf(msg.subject), msg.data, msg.time.getTime())
      : undefined;
  }
}
