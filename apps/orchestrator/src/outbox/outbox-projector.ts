import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { OutboxMessagePayloadDto } from '#contracts';
import { Bus, type StoredMessage, StreamProvisioner } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { ServiceMetrics } from '#health';
import { JetStreamProjection, type ProjectionWrite } from '../projections/jetstream-projection.js';

/**
 * GUARDKIT_OUTBOX into `outbox_messages`: every message once (the envelope's message id is the key), in
 * stream order (the `id` AutoAppDev clients page by follows the order of application).
 */
@Injectable()
export class OutboxProjector extends JetStreamProjection {
  protected readonly projection = 'outbox';
  protected readonly streamRole = 'outbox';

  constructor(
    bus: Bus,
    @InjectDataSource() db: DataSource,
    @Inject(SETTINGS) settings: Settings,
    provisioner: StreamProvisioner,
    metrics: ServiceMetrics,
  ) {
    super(bus, db, settings, provisioner, metrics);
  }

  /** Rows are keyed by message id, not by sequence: nothing ties them to the old stream. */
  protected onStreamReplaced(): Promise<void> {
    return Promise.resolve();
  }

  protected filterSubject(): string {
    return `${this.bus.subjects.streamSubjects('outbox')[0]}`;
  }

  protected write(batch: StoredMessage[]): ProjectionWrite {
    const rows = batch.flatMap((msg) => {
      const event = this.decodeEnvelope(msg, OutboxMessagePayloadDto);
      if (!event) return [];
      const p = event.payload;
      return [
        {
          message_id: event.message_id,
          seq: msg.seq,
          source: p.source,
          role: p.role,
          content: p.content,
          truncated: p.truncated,
          file_name: p.file_name ?? null,
          file_ts: p.file_ts ?? null,
          created_at: event.timestamp,
        },
      ];
    });
    return {
      ctes: `inserted AS (
         INSERT INTO outbox_messages (message_id, seq, source, role, content, truncated, file_name, file_ts,
                                      created_at)
         SELECT message_id, seq, source, role, content, truncated, file_name, file_ts, created_at
         FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (
           message_id text, seq bigint, source text, role text, content text, truncated boolean, file_name text,
           file_ts timestamptz, created_at timestamptz)) WITH ORDINALITY AS x(
           message_id, seq, source, role, content, truncated, file_name, file_ts, created_at, ord)
         ORDER BY ord
         ON CONFLICT (message_id) DO NOTHING
         RETURNING 1
       )`,
      params: [JSON.stringify(rows)],
    };
  }
}
