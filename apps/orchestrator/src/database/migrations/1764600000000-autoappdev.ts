import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Issue 13: what AutoAppDev's PWA keeps in its backend: saved AAPS scripts and inbox messages. */
export class AutoAppDev1764600000000 implements MigrationInterface {
  name = 'AutoAppDev1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE pipeline_scripts (
        id serial PRIMARY KEY,
        title text NOT NULL,
        script_text text NOT NULL,
        script_version integer NOT NULL,
        script_format text NOT NULL,
        ir jsonb,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`
      CREATE TABLE inbox_messages (
        id serial PRIMARY KEY,
        role text NOT NULL,
        content text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE inbox_messages`);
    await queryRunner.query(`DROP TABLE pipeline_scripts`);
  }
}
