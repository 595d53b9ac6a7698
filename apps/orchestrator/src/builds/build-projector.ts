import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { type BuildStatusPayload, type Envelope, ProgressFileDto, toBuildStatusPayload } from '#contracts';
import { Bus, type StoredMessage, StreamProvisioner } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { ServiceMetrics } from '#health';
import { JetStreamProjection, type ProjectionWrite } from '../projections/jetstream-projection.js';

export const BUILDS_PROJECTION = 'builds';

/**
 * GUARDKIT_BUILDS into `builds`: the latest status of each build. Within a batch only each build's newest event
 * is written, and a row changes only for an event newer (by stream sequence) than the one it holds, so an older
 * event never overwrites a newer one and a replay changes nothing.
 */
@Injectable()
export class BuildProjector extends JetStreamProjection {
  protected readonly projection = BUILDS_PROJECTION;
  protected readonly streamRole = 'builds';
  protected override readonly gapsExpected = true; // a build's old events are trimmed per subject

  constructor(
    bus: Bus,
    @InjectDataSource() db: DataSource,
    @Inject(SETTINGS) settings: Settings,
    provisioner: StreamProvisioner,
    metrics: ServiceMetrics,
  ) {
    super(bus, db, settings, provisioner, metrics);
  }

  /** Sequences of the old stream mean nothing in the new one: the next event of each build wins. */
  protected async onStreamReplaced(tx: EntityManager): Promise<void> {
    await tx.query('UPDATE builds SET last_seq = 0');
  }

  protected filterSubject(): string {
    return this.bus.subjects.allBuildStatus();
  }

  protected write(batch: StoredMessage[]): ProjectionWrite {
    const latest = new Map<string, { seq: number; event: Envelope<BuildStatusPayload>; received: string }>();
    for (const msg of batch) {
      const event = this.decode(msg);
      if (event) latest.set(event.payload.build_id, { seq: msg.seq, event, received: storedAt(msg) });
    }
    const rows = [...latest.values()].map(({ seq, event, received }) => ({
      build_id: event.payload.build_id,
      status: event.payload.status,
      project: event.project ?? null,
      progress_pct: event.payload.progress_pct,
      started_at: event.payload.started_at,
      updated_at: event.payload.updated_at,
      received_at: received,
      last_seq: seq,
      latest: event.payload,
    }));
    return {
      ctes: `incoming AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
           build_id text, status text, project text, progress_pct smallint, started_at timestamptz,
           updated_at timestamptz, received_at timestamptz, last_seq bigint, latest jsonb)
       ), upserted AS (
         INSERT INTO builds (build_id, status, project, progress_pct, started_at, updated_at, received_at,
                             last_seq, latest)
         SELECT build_id, status, project, progress_pct, started_at, updated_at, received_at, last_seq, latest
           FROM incoming
         ON CONFLICT (build_id) DO UPDATE SET
           status = EXCLUDED.status, project = EXCLUDED.project, progress_pct = EXCLUDED.progress_pct,
           started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, received_at = EXCLUDED.received_at,
           last_seq = EXCLUDED.last_seq, latest = EXCLUDED.latest
         WHERE builds.last_seq < EXCLUDED.last_seq
         RETURNING 1
       )`,
      params: [JSON.stringify(rows)],
    };
  }

  /** A valid build status envelope whose build id agrees with its subject, normalised; else undefined. */
  private decode(msg: StoredMessage): Envelope<BuildStatusPayload> | undefined {
    const event = this.decodeEnvelope(msg, ProgressFileDto);
    if (!event) return undefined;
    const buildId = this.bus.subjects.buildIdOf(msg.subject);
    if (!buildId || (event.payload.build_id !== undefined && event.payload.build_id !== buildId)) {
      this.logger.warn(
        { seq: msg.seq, subject: msg.subject },
        'skipping a build event whose build_id differs from its subject',
      );
      return undefined;
    }
    return {
      ...event,
      payload: toBuildStatusPayload(event.payload as ProgressFileDto & Record<string, unknown>, buildId),
    };
  }
}

/** When the stream stored a message (its own clock, in UTC). */
function storedAt(msg: StoredMessage): string {
  return new Date(msg.storedAtMs).toISOString();
}
