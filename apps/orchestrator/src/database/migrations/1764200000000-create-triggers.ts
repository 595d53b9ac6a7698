import type { MigrationInterface, QueryRunner } from 'typeorm';

/** SPEC 5: sessions, triggers with their attempt ledger, the loop guard per thread, and the audit log. */
export class CreateTriggers1764200000000 implements MigrationInterface {
  name = 'CreateTriggers1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE sessions (
        session_id        text PRIMARY KEY,
        agent_id          text NOT NULL,
        workspace_id      text NOT NULL,
        thread_id         text,
        runtime           text NOT NULL,
        tmux_target       text NOT NULL,
        managed           boolean NOT NULL,
        resumable         boolean NOT NULL,
        registered_at     timestamptz NOT NULL,
        last_heartbeat_at timestamptz NOT NULL,
        deregistered_at   timestamptz
      )`);
    await queryRunner.query(
      `CREATE INDEX sessions_agent_idx ON sessions (workspace_id, agent_id, last_heartbeat_at DESC)`,
    );
    await queryRunner.query(`
      CREATE TABLE trigger_jobs (
        trigger_id         text PRIMARY KEY,
        workspace_id       text NOT NULL,
        thread_id          text NOT NULL,
        target_agent_id    text NOT NULL,
        reason             text NOT NULL,
        prompt             text NOT NULL,
        idempotency_key    text,
        decision           text NOT NULL,
        step               text NOT NULL,
        state              text NOT NULL,
        session_id         text REFERENCES sessions (session_id) ON DELETE SET NULL,
        forced             boolean NOT NULL DEFAULT false,
        deferred_since     timestamptz,
        chain_start        integer NOT NULL DEFAULT 0,
        last_error_code    text,
        last_error_message text,
        version            integer NOT NULL,
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX trigger_jobs_idempotency_idx ON trigger_jobs (workspace_id, idempotency_key)
         WHERE idempotency_key IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX trigger_jobs_rate_idx ON trigger_jobs (workspace_id, target_agent_id, thread_id, created_at DESC)`,
    );
    await queryRunner.query(`CREATE INDEX trigger_jobs_state_idx ON trigger_jobs (state)`);
    await queryRunner.query(`
      CREATE TABLE trigger_attempts (
        id          bigserial PRIMARY KEY,
        trigger_id  text NOT NULL REFERENCES trigger_jobs (trigger_id) ON DELETE CASCADE,
        attempt     integer NOT NULL,
        step        text NOT NULL,
        result      text NOT NULL,
        error_code  text,
        details     jsonb NOT NULL DEFAULT '{}',
        started_at  timestamptz NOT NULL,
        finished_at timestamptz,
        CONSTRAINT trigger_attempts_trigger_attempt_key UNIQUE (trigger_id, attempt)
      )`);
    await queryRunner.query(`CREATE INDEX trigger_attempts_failures_idx ON trigger_attempts (started_at)
         WHERE result = 'failed'`);
    await queryRunner.query(`
      CREATE TABLE trigger_threads (
        workspace_id           text NOT NULL,
        thread_id              text NOT NULL,
        turns_without_progress integer NOT NULL DEFAULT 0,
        last_finding_hash      text,
        identical_findings     integer NOT NULL DEFAULT 0,
        blocked_reason         text,
        blocked_at             timestamptz,
        updated_at             timestamptz NOT NULL,
        PRIMARY KEY (workspace_id, thread_id)
      )`);
    await queryRunner.query(`
      CREATE TABLE audit_log (
        id           bigserial PRIMARY KEY,
        at           timestamptz NOT NULL,
        action       text NOT NULL,
        subject_type text NOT NULL,
        subject_id   text NOT NULL,
        reason       text,
        details      jsonb NOT NULL DEFAULT '{}'
      )`);
    await queryRunner.query(`CREATE INDEX audit_log_subject_idx ON audit_log (subject_type, subject_id, at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE audit_log`);
    await queryRunner.query(`DROP TABLE trigger_threads`);
    await queryRunner.query(`DROP TABLE trigger_attempts`);
    await queryRunner.query(`DROP TABLE trigger_jobs`);
    await queryRunner.query(`DROP TABLE sessions`);
  }
}
