import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 12: `builds.received_at`, when the stream stored the build's latest status (not the writer's own
 * `updated_at`, which a writer in another time zone may stamp hours off), so a build that stopped writing can
 * be shown `stale`.
 */
export class BuildReceivedAt1764400000000 implements MigrationInterface {
  name = 'BuildReceivedAt1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE builds ADD COLUMN received_at timestamptz`);
    await queryRunner.query(`UPDATE builds SET received_at = updated_at`);
    await queryRunner.query(`ALTER TABLE builds ALTER COLUMN received_at SET NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE builds DROP COLUMN received_at`);
  }
}
