import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { JetStreamApiCodes, JetStreamApiError, type StreamInfo } from '@nats-io/jetstream';
import type { DataSource, EntityManager } from 'typeorm';
import type { ClassConstructor } from 'class-transformer';
import { Histogram, type Registry } from 'prom-client';
import { type Envelope, EnvelopeDto, type StreamRole, validatePlain } from '#contracts';
import {
  type Bus,
  StreamBatchReader,
  StreamReaderLostError,
  type StoredMessage,
  type StreamProvisioner,
} from '#bus';
import type { Settings } from '#platform';
import type { ServiceMetrics } from '#health';
import { ProjectionLease } from './projection-lease.js';

/** At most this many events go into one statement. */
const BATCH = 256;
/** Events held in memory at most: one batch (the next is read only once this one is applied). */
export const MAX_PENDING = BATCH;
/** How long one read waits for the first event after a quiet spell; a lost read is noticed a little later. */
const READ_WAIT_MS = 5000;
/** How often a standby orchestrator tries to take a projection's lease. */
const LEASE_RETRY_MS = 2000;

/** What a projection writes for a batch: common table expressions (data-modifying) and their parameters. */
export interface ProjectionWrite {
  /** e.g. `incoming AS (…), upserted AS (INSERT … RETURNING 1)`; empty when the batch holds nothing to write. */
  ctes: string;
  params: unknown[];
}

/**
 * A projection of one JetStream stream into PostgreSQL.
 *
 * The database is the only record of progress: the position (the last stream sequence applied) is written in
 * the same statement as the rows, with the identity of the stream it belongs to (its creation time). Events
 * are read in stream order from the position on, a statement's worth at a time (StreamBatchReader), so the
 * position never passes an event that was not applied (no holes, also after a crash: a new reader starts
 * where the database is). The consumer is ephemeral: nothing is left on the NATS server.
 *
 * - A stream deleted and made again (a lost volume) is noticed by its creation time, loudly, and replayed
 *   from its start.
 * - Events the stream dropped before they were projected (retention overtook the projection) are reported
 *   as an error with their sequence range, unless the projection expects gaps (`gapsExpected`).
 * - A database outage is retried in place with the batch in hand; nothing more is read meanwhile, so memory
 *   stays bounded. An event the database refuses as data is logged and skipped.
 * - After NATS reconnects the reader is reopened from the position at once; so is a reader whose read says
 *   its consumer is gone.
 * - Statements start at least `PROJECTION_BATCH_MS` apart: under load one statement carries the events of
 *   that window, read in one answer from the server, and an event after a quiet spell is written at once.
 * - With several orchestrators, one applies the projection: the holder of its lease (ProjectionLease, a
 *   PostgreSQL advisory lock). The others stand by and take the lease when its holder dies or loses its
 *   database, then read on from the stored position.
 */
export abstract class JetStreamProjection implements OnApplicationBootstrap, OnModuleDestroy {
  protected readonly logger = new Logger(this.constructor.name);
  private reader?: StreamBatchReader;
  /** Events read and not applied yet: the batch in hand. */
  private held = 0;
  private appliedSeq = 0;
  /** The sequence the next event read should have; one past it means events were lost (unless expected). */
  private expectedSeq = 1;
  private streamCreated: string | null = null;
  private reopen = true;
  /** Ends the wait for the lease early (the lease was lost, or the service stops). */
  private wake?: () => void;
  private running?: Promise<void>;
  private checker?: NodeJS.Timeout;
  private stopping = false;
  /** When the last statement started (performance.now()). */
  private lastStatementAt = -Infinity;
  private readonly statementEvents: Histogram;
  private lease!: ProjectionLease;

  /** The name of the projection: its row in projection_positions. */
  protected abstract readonly projection: string;
  protected abstract readonly streamRole: StreamRole;
  /** True where the stream trims on purpose (per subject) and a gap in sequences loses nothing that matters. */
  protected readonly gapsExpected: boolean = false;
  protected abstract filterSubject(): string;
  protected abstract write(batch: StoredMessage[]): ProjectionWrite;
  /** The stream was replaced: forget what ties rows to the old stream's sequences (inside `tx`). */
  protected abstract onStreamReplaced(tx: EntityManager): Promise<void>;

  protected constructor(
    protected readonly bus: Bus,
    protected readonly db: DataSource,
    protected readonly settings: Settings,
    private readonly provisioner: StreamProvisioner,
    private readonly metrics: ServiceMetrics,
  ) {
    this.statementEvents = statementEventsHistogram(metrics.registry);
    metrics.sample(
      'guardkit_projection_lag_events',
      'Events on the stream not yet applied to PostgreSQL, by projection',
      ['projection'],
      async (set) => {
        if (!this.lease?.held) return; // a standby applies nothing: its lag would say nothing true
        const { state } = await this.bus.jsm.streams.info(this.stream);
        set({ projection: this.projection }, Math.max(0, state.last_seq - this.appliedSeq));
      },
    );
  }

  private get stream(): string {
    return this.bus.subjects.streamName(this.streamRole);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.removeLegacyConsumer();
    this.lease = new ProjectionLease(this.settings.database.url, this.projection);
    this.lease.onLost = () => {
      if (this.stopping) return;
      this.logger.warn(
        { projection: this.projection },
        'lost the lease of the projection (its database connection ended); taking it again when it is free',
      );
      void this.closeReader();
      this.wake?.();
    };
    if (await this.lease.tryAcquire()) await this.resume();
    else this.standingBy();
    this.running = this.run();
    void this.reopenOnReconnect();
    this.checker = setInterval(() => {
      if (!this.lease.held) return;
      void this.lease.check();
      void this.checkStream().catch(() => undefined); // NATS away: the reconnect reopens the reader
    }, this.settings.streams.projectionCheckMs);
    this.checker.unref();
  }

  /** Reads on from the stored position (at start, and after taking the lease over). */
  private async resume(): Promise<void> {
    const stored = await this.stored();
    this.appliedSeq = stored.position;
    this.streamCreated = stored.streamCreated;
    await this.openReader();
  }

  private standingBy(): void {
    this.logger.log(
      { projection: this.projection },
      'another orchestrator applies this projection; standing by to take it over',
    );
  }

  /** Without the lease: stop reading, forget what was read, and wait for the lease; false if stopping first. */
  private async takeLease(): Promise<boolean> {
    void this.closeReader();
    while (!this.stopping) {
      if (await this.lease.tryAcquire()) {
        try {
          await this.resume();
          this.logger.log({ projection: this.projection, from: this.appliedSeq }, 'took the projection over');
          return true;
        } catch (error) {
          this.logger.warn(
            { projection: this.projection, err: error instanceof Error ? error.message : String(error) },
            'cannot read on from the stored position yet; trying again',
          );
          await this.lease.release();
        }
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, LEASE_RETRY_MS).unref();
      });
      this.wake = undefined;
    }
    return false;
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.checker);
    const closed = this.closeReader();
    this.wake?.();
    await this.running;
    await closed;
    await this.lease?.release();
  }

  /** Events read and waiting to be applied (at most MAX_PENDING). */
  get pendingCount(): number {
    return this.held;
  }

  async position(): Promise<number> {
    return (await this.stored()).position;
  }

  private async stored(): Promise<{ position: number; streamCreated: string | null }> {
    const rows = await this.db.query<{ last_seq: string; stream_created: string | null }[]>(
      'SELECT last_seq, stream_created FROM projection_positions WHERE projection = $1',
      [this.projection],
    );
    return { position: Number(rows[0]?.last_seq ?? 0), streamCreated: rows[0]?.stream_created ?? null };
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.lease.held) {
        if (!(await this.takeLease())) return;
        continue;
      }
      if (this.reopen || !this.reader) {
        try {
          await this.openReader();
        } catch (error) {
          this.logger.warn(
            { stream: this.stream, err: error instanceof Error ? error.message : String(error) },
            'cannot read the stream yet; trying again',
          );
          await sleep(1000);
          continue;
        }
      }
      // A statement costs the same CPU for one event as for a hundred, and so does reading them: under load,
      // let the events of the window gather on the server and read them in one answer.
      const wait = this.lastStatementAt + this.settings.streams.projectionBatchMs - performance.now();
      if (wait > 0) await sleep(wait);
      const reader = this.reader;
      if (!reader || this.stopping) continue;
      let read: StoredMessage[];
      try {
        read = await reader.next(BATCH, READ_WAIT_MS);
      } catch (error) {
        if (!(error instanceof StreamReaderLostError)) throw error;
        this.logger.warn(
          { stream: this.stream, err: error.message },
          'reading the stream again from the position',
        );
        this.reopen = true;
        continue;
      }
      if (reader !== this.reader) continue; // closed meanwhile: the next reader reads on from the position
      const batch = this.fresh(read);
      if (batch.length === 0) continue;
      this.lastStatementAt = performance.now();
      this.held = batch.length;
      const applied = await this.applyWithRetry(batch);
      this.held = 0;
      if (!applied) continue; // stopping, or the lease was lost
      this.appliedSeq = batch.at(-1)?.seq ?? this.appliedSeq;
    }
  }

  /**
   * A reader from the position on. First the stream's identity: a stream made anew since the position was
   * written is replayed from its start, and events dropped before they were projected are reported.
   */
  private async openReader(): Promise<void> {
    void this.closeReader();
    const info = await this.streamInfo();
    if (this.streamCreated !== null && info.created !== this.streamCreated) {
      this.logger.error(
        { stream: this.stream, was: this.streamCreated, now: info.created, position: this.appliedSeq },
        'the stream was deleted and made again since the last event was projected; replaying the new stream ' +
          'from its start (events only the old stream held are gone)',
      );
      await this.db.transaction(async (tx) => {
        await tx.query(
          `UPDATE projection_positions SET last_seq = 0, stream_created = $2, updated_at = now()
            WHERE projection = $1`,
          [this.projection, info.created],
        );
        await this.onStreamReplaced(tx);
      });
      this.appliedSeq = 0;
    }
    this.streamCreated = info.created;
    const first = info.state.first_seq;
    this.expectedSeq = this.appliedSeq + 1;
    // (a projection that has applied nothing yet lost nothing: what expired went before it started)
    if (!this.gapsExpected && this.appliedSeq > 0 && info.state.messages > 0 && first > this.appliedSeq + 1) {
      this.reportLoss(this.appliedSeq + 1, first - 1);
      this.expectedSeq = first;
    }
    const reader = await StreamBatchReader.open(
      this.bus,
      this.stream,
      this.filterSubject(),
      this.appliedSeq + 1,
    );
    if (this.stopping) {
      await reader.close();
      return;
    }
    this.reader = reader;
    this.reopen = false;
  }

  /** The events read that are past the position, in order; events the stream lost on the way are reported. */
  private fresh(read: StoredMessage[]): StoredMessage[] {
    const batch = read.filter((msg) => msg.seq > this.appliedSeq);
    for (const msg of batch) {
      if (!this.gapsExpected && this.appliedSeq > 0 && msg.seq > this.expectedSeq) {
        this.reportLoss(this.expectedSeq, msg.seq - 1);
      }
      this.expectedSeq = msg.seq + 1;
    }
    return batch;
  }

  /** Stops the open reader (its pending read resolves empty) and deletes its consumer on the server. */
  private closeReader(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    return reader?.close() ?? Promise.resolve();
  }

  private async streamInfo(): Promise<StreamInfo> {
    try {
      return await this.bus.jsm.streams.info(this.stream);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound))
        throw error;
      // NATS came back without its streams (a lost volume): make them again, as a start would
      this.logger.error({ stream: this.stream }, 'the stream is missing; creating it again');
      await this.provisioner.ensureAll();
      return this.bus.jsm.streams.info(this.stream);
    }
  }

  /** A stream replaced while the reader was open is noticed here (retention shows as a gap in what it reads). */
  private async checkStream(): Promise<void> {
    const info = await this.bus.jsm.streams.info(this.stream);
    if (info.created !== this.streamCreated) {
      this.reopen = true;
      void this.closeReader(); // ends the open read: the loop reopens
    }
  }

  private reportLoss(from: number, to: number): void {
    this.logger.error(
      { stream: this.stream, projection: this.projection, from, to, lost: to - from + 1 },
      'events were removed from the stream before they were projected (retention overtook the projection); ' +
        'raise the stream limits or keep the orchestrator running',
    );
  }

  private async reopenOnReconnect(): Promise<void> {
    for await (const status of this.bus.nc.status()) {
      if (this.stopping) return;
      if (status.type === 'reconnect') {
        this.reopen = true;
        void this.closeReader(); // ends the open read: the loop reopens
      }
    }
  }

  /** True once applied; false if stopping or losing the lease first. */
  private async applyWithRetry(batch: StoredMessage[]): Promise<boolean> {
    for (let attempt = 1; !this.stopping && this.lease.held; attempt++) {
      try {
        await this.apply(batch);
        this.metrics.eventsHandled(this.projection, batch.length);
        this.statementEvents.observe({ projection: this.projection }, batch.length);
        return true;
      } catch (error) {
        if (isDataError(error)) {
          await this.isolate(batch, error);
          return true;
        }
        if (attempt === 1 || attempt % 50 === 0) {
          this.logger.warn(
            { err: (error as Error).message, first: batch[0]?.seq, count: batch.length, attempt },
            'projecting events failed; retrying (the stream keeps them)',
          );
        }
        await sleep(Math.min(200 * attempt, 5000));
      }
    }
    return false;
  }

  /** One event in the batch is refused as data (a date PostgreSQL cannot read, say): apply the rest, skip it. */
  private async isolate(batch: StoredMessage[], error: unknown): Promise<void> {
    if (batch.length === 1) {
      // The message and SQLSTATE say it; the driver's error would also log the whole batch's parameters.
      const { message, code } = error as { message?: string; code?: string };
      this.logger.warn(
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
    msg: StoredMessage,
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
  private async apply(batch: StoredMessage[], skippedSeq?: number): Promise<void> {
    const last = batch.reduce((max, msg) => Math.max(max, msg.seq), skippedSeq ?? 0);
    const { ctes, params } = batch.length > 0 ? this.write(batch) : { ctes: '', params: [] };
    const n = params.length;
    await this.db.query(
      `${ctes ? `WITH ${ctes} ` : ''}INSERT INTO projection_positions (projection, last_seq, stream_created, updated_at)
       VALUES ($${n + 1}, $${n + 2}, $${n + 3}, now())
       ON CONFLICT (projection) DO UPDATE SET
         last_seq = EXCLUDED.last_seq, stream_created = EXCLUDED.stream_created, updated_at = now()`,
      [...params, this.projection, last, this.streamCreated],
    );
  }

  /** Projections before this version read through a durable consumer; it is not needed any more. */
  private async removeLegacyConsumer(): Promise<void> {
    const name = `${this.projection}-projection`;
    const legacy = this.settings.nats.namespace ? `${this.settings.nats.namespace}_${name}` : name;
    await this.bus.jsm.consumers.delete(this.stream, legacy).catch(() => undefined);
  }
}

/** Events per statement, by projection: one histogram in the service's registry for every projection. */
function statementEventsHistogram(registry: Registry): Histogram {
  const name = 'guardkit_projection_statement_events';
  return (
    (registry.getSingleMetric(name) as Histogram | undefined) ??
    new Histogram({
      name,
      help: 'Events applied per PostgreSQL statement, by projection (PROJECTION_BATCH_MS gathers them under load)',
      labelNames: ['projection'],
      buckets: [1, 2, 5, 10, 25, 50, 100, 256],
      registers: [registry],
    })
  );
}

/** PostgreSQL classes 22 (data exception) and 23 (integrity): the data is wrong, not the connection. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
