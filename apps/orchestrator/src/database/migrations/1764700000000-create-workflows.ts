import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 14: role workflows (SPEC 6.2). A workflow row (its state, round and the flow generation its jobs
 * belong to), one row per execution of a role (claimed before its process starts, so a job delivered twice
 * is seen), and the artifacts: each answer, raw output that did not parse, each round's diff, test logs.
 */
export class CreateWorkflows1764700000000 implements MigrationInterface {
  name = 'CreateWorkflows1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE workflows (
      workflow_id text PRIMARY KEY,
      request_id text UNIQUE,
      state text NOT NULL,
      mode text NOT NULL,
      hunters int NOT NULL,
      description text NOT NULL,
      guidance text,
      cwd text NOT NULL,
      base_commit text NOT NULL,
      round int NOT NULL DEFAULT 1,
      generation int NOT NULL DEFAULT 1,
      current_node text,
      failure jsonb,
      notes jsonb NOT NULL DEFAULT '[]',
      metrics jsonb NOT NULL DEFAULT '{}',
      event_seq int NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL,
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL
    )`);
    await queryRunner.query(`CREATE INDEX workflows_created ON workflows (created_at DESC)`);
    await queryRunner.query(`CREATE TABLE workflow_role_runs (
      workflow_id text NOT NULL REFERENCES workflows ON DELETE CASCADE,
      node text NOT NULL,
      round int NOT NULL,
      attempt int NOT NULL,
      generation int NOT NULL,
      role text NOT NULL,
      model text,
      state text NOT NULL,
      answer jsonb,
      exit_code int,
      detail text,
      pid int,
      host text,
      fence bigint,
      started_at timestamptz NOT NULL,
      ended_at timestamptz,
      PRIMARY KEY (workflow_id, node, round, attempt)
    )`);
    await queryRunner.query(`CREATE TABLE workflow_artifacts (
      workflow_id text NOT NULL REFERENCES workflows ON DELETE CASCADE,
      name text NOT NULL,
      content_type text NOT NULL,
      content text NOT NULL,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (workflow_id, name)
    )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE workflow_artifacts`);
    await queryRunner.query(`DROP TABLE workflow_role_runs`);
    await queryRunner.query(`DROP TABLE workflows`);
  }
}
