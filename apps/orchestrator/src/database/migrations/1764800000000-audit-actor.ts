import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Issue 17: who did it. `actor` is the token's `sub` of the request an audit entry records (null before). */
export class AuditActor1764800000000 implements MigrationInterface {
  name = 'AuditActor1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE audit_log ADD COLUMN actor text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE audit_log DROP COLUMN actor`);
  }
}
