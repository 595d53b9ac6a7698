import { Logger } from '@nestjs/common';
import { DeliverPolicy, type JsMsg, type OrderedConsumerOptions } from '@nats-io/jetstream';
import type { Response } from 'express';
import type { Envelope, StreamRole } from '#contracts';
import { type Bus, releaseOrdered } from '#bus';
import type { SseStreams } from './sse-streams.js';

/** One kind of per-entity status subject served over SSE: builds (`status` events) or triggers (`trigger`). */
export interface StatusKind {
  role: StreamRole;
  /** The metrics label of a one-entity stream; several entities on one stream use `${label}s`. */
  label: string;
  event: string;
  idField: string;
  stateField: string;
  terminal: ReadonlySet<string>;
  subjectFor(id: string): string;
  allSubjects(): string;
  idOf(subject: string): string | undefined;
}

/**
 * Serves status events over SSE (SPEC 4.2) from one stream through one ordered consumer per connection, so
 * the history and the live tail come from one in-order delivery: there is no switch between replay and live
 * at which an event could be lost or sent twice.
 *
 * - no Last-Event-ID: the latest status of each entity (deliver last per subject), then live;
 * - Last-Event-ID N: every event after N (deliver from N+1); if events after N are no longer retained, each
 *   entity's latest status comes as `event: reset` instead, then live;
 * - a terminal status is followed by `event: end` (per entity); the stream closes when every entity has
 *   ended; a resume at or past the terminal events of all of them is answered 204.
 */
export class StatusEvents {
  private readonly logger = new Logger(StatusEvents.name);

  constructor(
    private readonly bus: Bus,
    private readonly streams: SseStreams,
    private readonly kind: StatusKind,
  ) {}

  async serve(ids: string[], lastEventId: number | undefined, res: Response): Promise<void> {
    const stream = this.bus.subjects.streamName(this.kind.role);
    if (lastEventId !== undefined && (await this.allEndedBy(stream, ids, lastEventId))) {
      res.status(204).end();
      return;
    }
    const resumable = lastEventId !== undefined && (await this.streams.retainedAfter(stream, lastEventId));
    const consumer = await this.bus.js.consumers.get(stream, {
      filter_subjects: this.filterFor(ids),
      ...(resumable
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastEventId + 1 }
        : { deliver_policy: DeliverPolicy.LastPerSubject }),
    } satisfies Partial<OrderedConsumerOptions>);
    const messages = await consumer.consume();
    const release = releaseOrdered(consumer, messages);

    const label = ids.length === 1 ? this.kind.label : `${this.kind.label}s`;
    const sse = this.streams.start(res, label, () => void release());

    const wanted = new Set(ids);
    const ended = new Set<string>();
    const needsReset = new Set(lastEventId !== undefined && !resumable ? ids : []);
    for await (const msg of messages) {
      const id = this.kind.idOf(msg.subject);
      const state = id && wanted.has(id) ? this.stateOf(msg) : undefined;
      if (!id || state === undefined) continue;
      const event = needsReset.delete(id) ? 'reset' : this.kind.event;
      sse.send({ id: msg.seq, event, data: msg.string(), conflationKey: id });
      this.streams.sent(label, event);
      if (!this.kind.terminal.has(state)) {
        ended.delete(id);
        continue;
      }
      sse.send({
        event: 'end',
        data: JSON.stringify({ [this.kind.idField]: id, [this.kind.stateField]: state }),
      });
      ended.add(id);
      if (ended.size === wanted.size) {
        sse.end();
        break;
      }
    }
    await release();
  }

  /**
   * True when every entity's latest event is terminal and the client has seen it. An id past the stream's
   * end belongs to a stream that was replaced: the client has seen nothing of this one.
   */
  private async allEndedBy(stream: string, ids: string[], lastEventId: number): Promise<boolean> {
    const { state } = await this.bus.jsm.streams.info(stream);
    if (lastEventId > state.last_seq) return false;
    for (const id of ids) {
      const last = await this.bus.jsm.direct.getMessage(stream, { last_by_subj: this.kind.subjectFor(id) });
      if (!last || last.seq > lastEventId) return false;
      const state = parseState(last.string(), this.kind.stateField);
      if (state === undefined || !this.kind.terminal.has(state)) return false;
    }
    return true;
  }

  /** One subject per entity; several need one consumer over all of them on nats-server 2.9. */
  private filterFor(ids: string[]): string | string[] {
    const subjects = ids.map((id) => this.kind.subjectFor(id));
    if (subjects.length === 1) return subjects[0]; // an array, even of one, needs 2.10
    return supportsMultipleFilters(this.bus.nc.info?.version) ? subjects : this.kind.allSubjects();
  }

  private stateOf(msg: JsMsg): string | undefined {
    const state = parseState(msg.string(), this.kind.stateField);
    if (state === undefined)
      this.logger.warn(
        { seq: msg.seq, subject: msg.subject },
        'skipping a status event that is not an envelope',
      );
    return state;
  }
}

function parseState(data: string, field: string): string | undefined {
  try {
    const state = (JSON.parse(data) as Envelope).payload[field];
    return typeof state === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}

/** nats-server 2.10 added consumers with several filter subjects. */
export function supportsMultipleFilters(version: string | undefined): boolean {
  const [major = 0, minor = 0] = (version ?? '0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}
