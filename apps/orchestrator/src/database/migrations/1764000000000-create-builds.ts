import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateBuilds1764000000000 implements MigrationInterface {
  name = 'CreateBuilds1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE builds (
        build_id     text PRIMARY KEY,
        status       text NOT NULL,
        project      text,
        progress_pct smallint NOT NULL,
        started_at   timestamptz,
        updated_at   timestamptz NOT NULL,
        last_seq     bigint NOT NULL,
        latest       jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX builds_recent_idx ON builds (last_seq DESC)`);
    await queryRunner.query(`CREATE INDEX builds_status_recent_idx ON builds (status, last_seq DESC)`);
    await queryRunner.query(`
      CREATE TABLE projection_positions (
        projection text PRIMARY KEY,
        last_seq   bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE projection_positions`);
    await queryRunner.query(`DROP TABLE builds`);
  }
}
