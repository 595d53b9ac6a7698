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

/** At most this many events go into one statement. */
const BATCH = 256;

/**
 * Projects GUARDKIT_BUILDS into the `builds` table through a durable pull consumer.
 *
 * Events that have arrived are applied together, in one statement with the projection's position (so the
 * two always move together), and a row changes only for an event newer (by stream sequence) than the one it
 * holds: a redelivery or a replay changes nothing and an older event never overwrites a newer one. If the
 * consumer is ahead of the database (a restored or new database), it is recreated from the database's
 * position and the database catches up from the stream. A database outage is retried in place (messages
 * kept alive with `working()`), so nothing is skipped; an event the database refuses as data is skipped.
 */
@Injectable()
export class BuildProjector implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(BuildProjector.name);
  private messages?: ConsumerMessages;
  private readonly pending: JsMsg[] = [];
  private wake?: () => void;
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
    this.messages = await consumer.consume({
      max_messages: BATCH,
      callback: (msg) => {
        this.pending.push(msg);
        this.wake?.();
      },
    });
    this.running = this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    this.wake?.();
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

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.pending.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const batch = this.pending.splice(0, BATCH);
      if (await this.applyWithRetry(batch)) for (const msg of batch) msg.ack();
    }
  }

  /** True once applied; false if stopping first (the batch stays unacknowledged and is redelivered). */
  private async applyWithRetry(batch: JsMsg[]): Promise<boolean> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.apply(batch);
        return true;
      } catch (error) {
        if (isDataError(error)) {
          await this.isolate(batch, error);
          return true;
        }
        this.logger.error(
          { err: error, first: batch[0]?.seq, count: batch.length, attempt },
          'projecting build events failed; retrying',
        );
        for (const msg of batch) msg.working();
        await sleep(Math.min(200 * attempt, 5000));
      }
    }
    return false;
  }

  /** One event in the batch is refused as data (a date PostgreSQL cannot read, say): apply the rest, skip it. */
  private async isolate(batch: JsMsg[], error: unknown): Promise<void> {
    if (batch.length === 1) {
      // The message and SQLSTATE say it; the driver's error would also log the whole batch's parameters.
      const { message, code } = error as { message?: string; code?: string };
      this.logger.error(
        { seq: batch[0]?.seq, subject: batch[0]?.subject, reason: message, code },
        'skipping a build event the database refuses',
      );
      await this.apply([], batch[0]?.seq);
      return;
    }
    for (const msg of batch) {
      try {
        await this.apply([msg]);
      } catch (inner) {
        if (!isDataError(inner)) throw inner;
        await this.isolate([msg], inner);
      }
    }
  }

  /**
   * One statement: the newest event of each build in the batch is upserted where it is newer than the row,
   * and the position moves to the batch's last sequence, atomically.
   */
  private async apply(batch: JsMsg[], skippedSeq?: number): Promise<void> {
    const latest = new Map<string, { seq: number; event: Envelope<BuildStatusPayload> }>();
    let last = skippedSeq ?? 0;
    for (const msg of batch) {
      last = Math.max(last, msg.seq);
      const event = this.decode(msg);
      if (event) latest.set(event.payload.build_id, { seq: msg.seq, event });
    }
    const rows = [...latest.values()].map(({ seq, event }) => ({
      build_id: event.payload.build_id,
      status: event.payload.status,
      project: event.project ?? null,
      progress_pct: event.payload.progress_pct,
      started_at: event.payload.started_at,
      updated_at: event.payload.updated_at,
      last_seq: seq,
      latest: event.payload,
    }));
    await this.db.query(
      `WITH incoming AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
           build_id text, status text, project text, progress_pct smallint, started_at timestamptz,
           updated_at timestamptz, last_seq bigint, latest jsonb)
       ), upserted AS (
         INSERT INTO builds (build_id, status, project, progress_pct, started_at, updated_at, last_seq, latest)
         SELECT build_id, status, project, progress_pct, started_at, updated_at, last_seq, latest FROM incoming
         ON CONFLICT (build_id) DO UPDATE SET
           status = EXCLUDED.status, project = EXCLUDED.project, progress_pct = EXCLUDED.progress_pct,
           started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,
           last_seq = EXCLUDED.last_seq, latest = EXCLUDED.latest
         WHERE builds.last_seq < EXCLUDED.last_seq
         RETURNING 1
       )
       INSERT INTO projection_positions (projection, last_seq, updated_at) VALUES ($2, $3, now())
       ON CONFLICT (projection) DO UPDATE SET
         last_seq = GREATEST(projection_positions.last_seq, EXCLUDED.last_seq), updated_at = now()`,
      [JSON.stringify(rows), BUILDS_PROJECTION, last],
    );
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
