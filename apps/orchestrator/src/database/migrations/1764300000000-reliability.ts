import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 10 (reliability):
 * - `installation`: this installation's id (see InstallationGuard).
 * - `unpublished_events`: the transactional outbox of the orchestrator's own events; a row is written in the
 *   same transaction as the state it reports and deleted once NATS acknowledged it (EventRelay).
 * - `trigger_jobs.request_id` (a retried create is answered with the same trigger) and `enqueued_at` (the
 *   dispatcher queues from what is committed, and knows what it queued).
 * - `projection_positions.stream_created`: the identity of the stream a position belongs to, so a stream
 *   deleted and made again is replayed from its start instead of silently skipped.
 * - `outbox_messages` keyed by the envelope's `message_id` (a stream sequence is not unique across stream
 *   re-creations); `id` is the order in which messages were applied, which is stream order.
 */
export class Reliability1764300000000 implements MigrationInterface {
  name = 'Reliability1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE unpublished_events (
        id         bigserial PRIMARY KEY,
        subject    text NOT NULL,
        msg_id     text NOT NULL,
        envelope   jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    // one row: this installation's id, announced on NATS and Redis so that two never share them unawares
    await queryRunner.query(`
      CREATE TABLE installation (
        id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        singleton  boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`INSERT INTO installation DEFAULT VALUES`);
    await queryRunner.query(`ALTER TABLE trigger_jobs ADD COLUMN request_id text`);
    await queryRunner.query(`ALTER TABLE trigger_jobs ADD COLUMN enqueued_at timestamptz`);
    // every trigger that exists was queued by the code before this one (on create or at start)
    await queryRunner.query(`UPDATE trigger_jobs SET enqueued_at = updated_at`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX trigger_jobs_request_idx ON trigger_jobs (request_id) WHERE request_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX trigger_jobs_unqueued_idx ON trigger_jobs (created_at) WHERE enqueued_at IS NULL`,
    );
    await queryRunner.query(`ALTER TABLE projection_positions ADD COLUMN stream_created text`);

    await queryRunner.query(`ALTER TABLE outbox_messages RENAME TO outbox_messages_by_seq`);
    await queryRunner.query(
      `ALTER INDEX outbox_messages_source_seq_idx RENAME TO outbox_messages_by_seq_idx`,
    );
    await queryRunner.query(`
      CREATE TABLE outbox_messages (
        id         bigserial PRIMARY KEY,
        message_id text NOT NULL UNIQUE,
        seq        bigint NOT NULL,
        source     text NOT NULL,
        role       text NOT NULL,
        content    text NOT NULL,
        truncated  boolean NOT NULL DEFAULT false,
        file_name  text,
        file_ts    timestamptz,
        created_at timestamptz NOT NULL
      )`);
    await queryRunner.query(
      `CREATE INDEX outbox_messages_source_id_idx ON outbox_messages (source, id DESC)`,
    );
    await queryRunner.query(`CREATE INDEX outbox_messages_created_idx ON outbox_messages (created_at)`);
    // rows projected before: their message id was not kept, so the stream sequence stands in for it
    await queryRunner.query(`
      INSERT INTO outbox_messages (id, message_id, seq, source, role, content, truncated, file_name, file_ts, created_at)
      SELECT seq, 'seq-' || seq, seq, source, role, content, truncated, file_name, file_ts, created_at
        FROM outbox_messages_by_seq ORDER BY seq`);
    await queryRunner.query(
      `SELECT setval(pg_get_serial_sequence('outbox_messages', 'id'), GREATEST((SELECT MAX(id) FROM outbox_messages), 1))`,
    );
    await queryRunner.query(`DROP TABLE outbox_messages_by_seq`);
    // the crash-loop rule counts an agent's recent runtime failures at every admission, timeouts included
    await queryRunner.query(`DROP INDEX trigger_attempts_failures_idx`);
    await queryRunner.query(
      `CREATE INDEX trigger_attempts_failures_idx ON trigger_attempts (started_at)
         WHERE result IN ('failed', 'timeout')`,
    );
    await queryRunner.query(`CREATE INDEX audit_log_at_idx ON audit_log (at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX audit_log_at_idx`);
    await queryRunner.query(`DROP INDEX trigger_attempts_failures_idx`);
    await queryRunner.query(
      `CREATE INDEX trigger_attempts_failures_idx ON trigger_attempts (started_at) WHERE result = 'failed'`,
    );
    await queryRunner.query(`ALTER TABLE outbox_messages RENAME TO outbox_messages_by_id`);
    await queryRunner.query(`
      CREATE TABLE outbox_messages (
        seq        bigint PRIMARY KEY,
        source     text NOT NULL,
        role       text NOT NULL,
        content    text NOT NULL,
        truncated  boolean NOT NULL DEFAULT false,
        file_name  text,
        file_ts    timestamptz,
        created_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`
      INSERT INTO outbox_messages SELECT DISTINCT ON (seq) seq, source, role, content, truncated, file_name, file_ts,
             created_at FROM outbox_messages_by_id ORDER BY seq, id DESC`);
    await queryRunner.query(`DROP TABLE outbox_messages_by_id`);
    await queryRunner.query(
      `CREATE INDEX outbox_messages_source_seq_idx ON outbox_messages (source, seq DESC)`,
    );
    await queryRunner.query(`ALTER TABLE projection_positions DROP COLUMN stream_created`);
    await queryRunner.query(`DROP INDEX trigger_jobs_unqueued_idx`);
    await queryRunner.query(`DROP INDEX trigger_jobs_request_idx`);
    await queryRunner.query(`ALTER TABLE trigger_jobs DROP COLUMN enqueued_at`);
    await queryRunner.query(`ALTER TABLE trigger_jobs DROP COLUMN request_id`);
    await queryRunner.query(`DROP TABLE unpublished_events`);
    await queryRunner.query(`DROP TABLE installation`);
  }
}
