import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 13: AAPS pipeline runs. A run (`pipeline_runs`) keeps its IR and where it stands (`cursor`), so an
 * orchestrator that dies resumes it from the action that was running; every execution of an action is a row
 * of `pipeline_action_runs`, written before its process starts; meta-round items done are kept per working
 * folder and controller task (`pipeline_completed_items`), so a re-run skips them.
 */
export class CreatePipelines1764500000000 implements MigrationInterface {
  name = 'CreatePipelines1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE pipeline_runs (
        run_id text PRIMARY KEY,
        title text NOT NULL,
        state text NOT NULL,
        requested text,
        ir jsonb NOT NULL,
        cwd text NOT NULL,
        env jsonb NOT NULL,
        source text NOT NULL,
        runtime_dir text NOT NULL,
        request_id text UNIQUE,
        cursor jsonb NOT NULL,
        items jsonb,
        agent_session text,
        metrics jsonb NOT NULL,
        failure jsonb,
        event_seq integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX pipeline_runs_state ON pipeline_runs (state)`);
    await queryRunner.query(`CREATE INDEX pipeline_runs_created ON pipeline_runs (created_at DESC, run_id)`);
    await queryRunner.query(`
      CREATE TABLE pipeline_action_runs (
        run_id text NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
        seq integer NOT NULL,
        attempt integer NOT NULL,
        task_id text NOT NULL,
        item_id text,
        step_id text NOT NULL,
        action_id text NOT NULL,
        kind text NOT NULL,
        role text NOT NULL,
        state text NOT NULL,
        exit_code integer,
        signal text,
        pid integer,
        detail text,
        queued_at timestamptz NOT NULL,
        started_at timestamptz,
        ended_at timestamptz,
        PRIMARY KEY (run_id, seq, attempt)
      )`);
    await queryRunner.query(`
      CREATE TABLE pipeline_completed_items (
        cwd text NOT NULL,
        controller_task_id text NOT NULL,
        item_id text NOT NULL,
        run_id text NOT NULL,
        completed_at timestamptz NOT NULL,
        PRIMARY KEY (cwd, controller_task_id, item_id)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE pipeline_completed_items`);
    await queryRunner.query(`DROP TABLE pipeline_action_runs`);
    await queryRunner.query(`DROP TABLE pipeline_runs`);
  }
}
