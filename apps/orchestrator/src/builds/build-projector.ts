import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type JsMsg } from '@nats-io/jetstream';
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

  constructor(bus: Bus, @InjectDataSource() db: DataSource, @Inject(SETTINGS) settings: Settings) {
    super(bus, db, settings);
  }

  protected filterSubject(): string {
    return this.bus.subjects.allBuildStatus();
  }

  protected write(batch: JsMsg[]): ProjectionWrite {
    const latest = new Map<string, { seq: number; event: Envelope<BuildStatusPayload> }>();
    for (const msg of batch) {
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
    return {
      ctes: `incoming AS (
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
       )`,
      params: [JSON.stringify(rows)],
    };
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
