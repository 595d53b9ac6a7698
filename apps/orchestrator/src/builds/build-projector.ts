import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerInfo,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { DataSource } from 'typeorm';
import {
  type BuildStatusPayload,
  type Envelope,
  EnvelopeDto,
  ProgressFileDto,
  toBuildStatusPayload,
  validatePlain,
} from '#contracts';
import { Bus } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { ProjectionPositionEntity } from './build.entity.js';

export const BUILDS_PROJECTION = 'builds';

/**
 * Projects GUARDKIT_BUILDS into the `builds` table through a durable pull consumer.
 *
 * Each event is applied in one transaction together with the projection's position, and only if it is newer
 * (by stream sequence) than what the row holds, so a redelivery or a replay changes nothing and an older event
 * never overwrites a newer one. If the consumer is ahead of the database (a restored or new database), it is
 * recreated from the database's position and the database catches up from the stream.
 * A database error is retried in place (the message kept alive with `working()`), so nothing is skipped.
 */
@Injectable()
export class BuildProjector implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(BuildProjector.name);
  private messages?: ConsumerMessages;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly bus: Bus,
    @InjectDataSource() private readonly db: DataSource,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  get consumerName(): string {
    return this.settings.nats.namespace
      ? `${this.settings.nats.namespace}_builds-projection`
      : 'builds-projection';
  }

  async onApplicationBootstrap(): Promise<void> {
    const stream = this.bus.subjects.streamName('builds');
    await this.ensureConsumer(stream);
    const consumer = await this.bus.js.consumers.get(stream, this.consumerName);
    this.messages = await consumer.consume({ max_messages: 256 });
    this.running = this.run(this.messages);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    await this.running;
  }

  async position(): Promise<number> {
    const row = await this.db
      .getRepository(ProjectionPositionEntity)
      .findOneBy({ projection: BUILDS_PROJECTION });
    return row?.lastSeq ?? 0;
  }

  private async ensureConsumer(stream: string): Promise<void> {
    const position = await this.position();
    const existing = await this.bus.jsm.consumers.info(stream, this.consumerName).catch((error: unknown) => {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
        return undefined;
      throw error;
    });
    if (existing && !this.isAhead(existing, position)) return;
    if (existing) {
      this.logger.warn(
        { consumer: this.consumerName, acked: existing.ack_floor.stream_seq, position },
        'database is behind the consumer; replaying the stream from the database position',
      );
      await this.bus.jsm.consumers.delete(stream, this.consumerName);
    }
    await this.bus.jsm.consumers.add(stream, {
      durable_name: this.consumerName,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_ack_pending: 1024,
      filter_subject: this.bus.subjects.allBuildStatus(),
      ...(position > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: position + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
  }

  private isAhead(info: ConsumerInfo, position: number): boolean {
    return info.ack_floor.stream_seq > position;
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      await this.handle(msg);
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.apply(msg);
        msg.ack();
        return;
      } catch (error) {
        if (isDataError(error)) {
          // The event itself is at fault (a date PostgreSQL cannot read, say): retrying cannot help.
          this.logger.error(
            { err: error, seq: msg.seq, subject: msg.subject },
            'skipping a build event the database refuses',
          );
          msg.term();
          return;
        }
        this.logger.error({ err: error, seq: msg.seq, attempt }, 'projecting a build event failed; retrying');
        msg.working();
        await sleep(Math.min(200 * attempt, 5000));
      }
    }
    // Stopping mid-retry: leave the message unacknowledged, it is redelivered after a restart.
  }

  /** One event, one transaction: the build row (if newer) and the position move together. */
  private async apply(msg: JsMsg): Promise<void> {
    const event = this.decode(msg);
    await this.db.transaction(async (tx) => {
      if (event) {
        const p = event.payload;
        await tx.query(
          `INSERT INTO builds (build_id, status, project, progress_pct, started_at, updated_at, last_seq, latest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (build_id) DO UPDATE SET
             status = EXCLUDED.status, project = EXCLUDED.project, progress_pct = EXCLUDED.progress_pct,
             started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,
             last_seq = EXCLUDED.last_seq, latest = EXCLUDED.latest
           WHERE builds.last_seq < EXCLUDED.last_seq`,
          [
            p.build_id,
            p.status,
            event.project ?? null,
            p.progress_pct,
            p.started_at,
            p.updated_at,
            msg.seq,
            p,
          ],
        );
      }
      await tx.query(
        `INSERT INTO projection_positions (projection, last_seq, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (projection) DO UPDATE SET
           last_seq = GREATEST(projection_positions.last_seq, EXCLUDED.last_seq), updated_at = now()`,
        [BUILDS_PROJECTION, msg.seq],
      );
    });
  }

  /** A message that is not a valid build status envelope is logged and skipped: it cannot become valid later. */
  private decode(msg: JsMsg): Envelope<BuildStatusPayload> | undefined {
    let parsed: unknown;
    try {
      parsed = msg.json();
    } catch {
      this.logger.warn({ seq: msg.seq, subject: msg.subject }, 'skipping a build event that is not JSON');
      return undefined;
    }
    const envelope = validatePlain(EnvelopeDto, parsed);
    const payload = envelope.ok ? validatePlain(ProgressFileDto, envelope.value.payload) : envelope;
    const buildId = this.bus.subjects.buildIdOf(msg.subject);
    const problems = !payload.ok
      ? payload.problems
      : !buildId || (payload.value.build_id !== undefined && payload.value.build_id !== buildId)
        ? ['payload build_id differs from the subject']
        : [];
    if (problems.length > 0 || !envelope.ok || !buildId) {
      this.logger.warn({ seq: msg.seq, subject: msg.subject, problems }, 'skipping an invalid build event');
      return undefined;
    }
    const event = parsed as Envelope<BuildStatusPayload>;
    return {
      ...event,
      payload: toBuildStatusPayload(event.payload, buildId),
    };
  }
}

/** PostgreSQL classes 22 (data exception) and 23 (integrity): the data is wrong, not the connection. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
