import { Injectable, Logger } from '@nestjs/common';
import { DeliverPolicy, type JsMsg, type OrderedConsumerOptions } from '@nats-io/jetstream';
import type { Response } from 'express';
import { type Envelope, TERMINAL_BUILD_STATUSES } from '#contracts';
import { Bus } from '#bus';
import { SseStreams } from '../sse/sse-streams.js';

/**
 * Serves build status events over SSE (SPEC 4.2) from GUARDKIT_BUILDS through one ordered consumer per
 * connection, so the history and the live tail come from one in-order delivery: there is no switch
 * between replay and live at which an event could be lost or sent twice.
 *
 * - no Last-Event-ID: the latest status of each build (deliver last per subject), then live;
 * - Last-Event-ID N: every event after N (deliver from N+1); if events after N are no longer retained, each
 *   build's latest status comes as `event: reset` instead, then live;
 * - a terminal status is followed by `event: end` (per build); the stream closes when every build has ended;
 *   a resume at or past the terminal events of all builds is answered 204.
 */
@Injectable()
export class BuildEvents {
  private readonly logger = new Logger(BuildEvents.name);

  constructor(
    private readonly bus: Bus,
    private readonly streams: SseStreams,
  ) {}

  async serve(buildIds: string[], lastEventId: number | undefined, res: Response): Promise<void> {
    const stream = this.bus.subjects.streamName('builds');
    if (lastEventId !== undefined && (await this.allEndedBy(stream, buildIds, lastEventId))) {
      res.status(204).end();
      return;
    }
    const resumable = lastEventId !== undefined && (await this.streams.retainedAfter(stream, lastEventId));
    const consumer = await this.bus.js.consumers.get(stream, {
      filter_subjects: this.filterFor(buildIds),
      ...(resumable
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastEventId + 1 }
        : { deliver_policy: DeliverPolicy.LastPerSubject }),
    } satisfies Partial<OrderedConsumerOptions>);
    const messages = await consumer.consume();

    const label = buildIds.length === 1 ? 'build' : 'builds';
    const sse = this.streams.start(res, label, () => void messages.close());

    const wanted = new Set(buildIds);
    const ended = new Set<string>();
    const needsReset = new Set(lastEventId !== undefined && !resumable ? buildIds : []);
    for await (const msg of messages) {
      const buildId = this.bus.subjects.buildIdOf(msg.subject);
      const status = buildId && wanted.has(buildId) ? this.statusOf(msg) : undefined;
      if (!buildId || status === undefined) continue;
      const event = needsReset.delete(buildId) ? 'reset' : 'status';
      sse.send({ id: msg.seq, event, data: msg.string(), conflationKey: buildId });
      this.streams.sent(label, event);
      if (!TERMINAL_BUILD_STATUSES.has(status)) {
        ended.delete(buildId);
        continue;
      }
      sse.send({ event: 'end', data: JSON.stringify({ build_id: buildId, status }) });
      ended.add(buildId);
      if (ended.size === wanted.size) {
        sse.end();
        break;
      }
    }
    await messages.close();
  }

  /** True when every build's latest event is terminal and the client has seen it. */
  private async allEndedBy(stream: string, buildIds: string[], lastEventId: number): Promise<boolean> {
    for (const buildId of buildIds) {
      const last = await this.bus.jsm.direct.getMessage(stream, {
        last_by_subj: this.bus.subjects.buildStatus(buildId),
      });
      if (!last || last.seq > lastEventId) return false;
      const status = parseStatus(last.string());
      if (status === undefined || !TERMINAL_BUILD_STATUSES.has(status)) return false;
    }
    return true;
  }

  /** One subject per build; several builds need one consumer over all builds on nats-server 2.9. */
  private filterFor(buildIds: string[]): string | string[] {
    const subjects = buildIds.map((id) => this.bus.subjects.buildStatus(id));
    if (subjects.length === 1) return subjects[0]; // an array, even of one, needs 2.10
    return supportsMultipleFilters(this.bus.nc.info?.version) ? subjects : this.bus.subjects.allBuildStatus();
  }

  private statusOf(msg: JsMsg): string | undefined {
    const status = parseStatus(msg.string());
    if (status === undefined)
      this.logger.warn(
        { seq: msg.seq, subject: msg.subject },
        'skipping a build event that is not an envelope',
      );
    return status;
  }
}

function parseStatus(data: string): string | undefined {
  try {
    const status = (JSON.parse(data) as Envelope<{ status?: unknown }>).payload.status;
    return typeof status === 'string' ? status : undefined;
  } catch {
    return undefined;
  }
}

/** nats-server 2.10 added consumers with several filter subjects. */
export function supportsMultipleFilters(version: string | undefined): boolean {
  const [major = 0, minor = 0] = (version ?? '0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}
