import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { DataSource } from 'typeorm';
import type { ClassConstructor } from 'class-transformer';
import { type Envelope, EnvelopeDto, type StreamRole, validatePlain } from '#contracts';
import type { Bus } from '#bus';
import type { Settings } from '#platform';

/** At most this many events go into one statement. */
const BATCH = 256;

/** What a projection writes for a batch: common table expressions (data-modifying) and their parameters. */
export interface ProjectionWrite {
  /** e.g. `incoming AS (…), upserted AS (INSERT … RETURNING 1)`; empty when the batch holds nothing to write. */
  ctes: string;
  params: unknown[];
}

/**
 * A projection of one JetStream stream into PostgreSQL, through a durable pull consumer.
 *
 * What has arrived is applied together, in one statement with the projection's position (so the two always
 * move together); the subclass makes the statement idempotent (a redelivery or a replay changes nothing).
 * If the consumer is ahead of the database (a restored or new database), it is recreated from the
 * database's position and the database catches up from the stream. A database outage is retried in place
 * (messages kept alive with `working()`), so nothing is skipped; an event the database refuses as data is
 * logged and skipped.
 */
export abstract class JetStreamProjection implements OnApplicationBootstrap, OnModuleDestroy {
  protected readonly logger = new Logger(this.constructor.name);
  private messages?: ConsumerMessages;
  private readonly pending: JsMsg[] = [];
  private wake?: () => void;
  private running?: Promise<void>;
  private stopping = false;

  /** The name of the projection: its row in projection_positions and its consumer's name. */
  protected abstract readonly projection: string;
  protected abstract readonly streamRole: StreamRole;
  protected abstract filterSubject(): string;
  protected abstract write(batch: JsMsg[]): ProjectionWrite;

  protected constructor(
    protected readonly bus: Bus,
    protected readonly db: DataSource,
    protected readonly settings: Settings,
  ) {}

  get consumerName(): string {
    const name = `${this.projection}-projection`;
    return this.settings.nats.namespace ? `${this.settings.nats.namespace}_${name}` : name;
  }

  async onApplicationBootstrap(): Promise<void> {
    const stream = this.bus.subjects.streamName(this.streamRole);
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
    const rows = await this.db.query<{ last_seq: string }[]>(
      'SELECT last_seq FROM projection_positions WHERE projection = $1',
      [this.projection],
    );
    return Number(rows[0]?.last_seq ?? 0);
  }

  private async ensureConsumer(stream: string): Promise<void> {
    const position = await this.position();
    const existing = await this.bus.jsm.consumers.info(stream, this.consumerName).catch((error: unknown) => {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
        return undefined;
      throw error;
    });
    if (existing && !isAhead(existing, position)) return;
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
      filter_subject: this.filterSubject(),
      ...(position > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: position + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
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
          'projecting events failed; retrying',
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
        'skipping an event the database refuses',
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
   * A message's envelope and payload, both validated; undefined (and a warning) for anything else: a message
   * that is not valid cannot become valid later, so it is skipped, never retried.
   */
  protected decodeEnvelope<P extends object>(
    msg: JsMsg,
    payloadDto: ClassConstructor<P>,
  ): Envelope<P> | undefined {
    let parsed: unknown;
    try {
      parsed = msg.json();
    } catch {
      this.logger.warn({ seq: msg.seq, subject: msg.subject }, 'skipping an event that is not JSON');
      return undefined;
    }
    const envelope = validatePlain(EnvelopeDto, parsed);
    const payload = envelope.ok ? validatePlain(payloadDto, envelope.value.payload) : envelope;
    if (!payload.ok) {
      this.logger.warn(
        { seq: msg.seq, subject: msg.subject, problems: payload.problems },
        'skipping an invalid event',
      );
      return undefined;
    }
    return parsed as Envelope<P>;
  }

  /** One statement: the subclass's rows, and the position moved to the batch's last sequence. */
  private async apply(batch: JsMsg[], skippedSeq?: number): Promise<void> {
    const last = batch.reduce((max, msg) => Math.max(max, msg.seq), skippedSeq ?? 0);
    const { ctes, params } = batch.length > 0 ? this.write(batch) : { ctes: '', params: [] };
    const n = params.length;
    await this.db.query(
      `${ctes ? `WITH ${ctes} ` : ''}INSERT INTO projection_positions (projection, last_seq, updated_at)
       VALUES ($${n + 1}, $${n + 2}, now())
       ON CONFLICT (projection) DO UPDATE SET
         last_seq = GREATEST(projection_positions.last_seq, EXCLUDED.last_seq), updated_at = now()`,
      [...params, this.projection, last],
    );
  }
}

function isAhead(info: ConsumerInfo, position: number): boolean {
  return info.ack_floor.stream_seq > position;
}

/** PostgreSQL classes 22 (data exception) and 23 (integrity): the data is wrong, not the connection. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
