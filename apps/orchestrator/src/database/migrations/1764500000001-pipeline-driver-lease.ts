import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 13: one driver per run, whichever orchestrator replica it runs in: a run is driven by the replica that
 * holds its lease (`driver_id`, renewed while it drives; taken over once it lapses, when that replica died), and
 * an execution records the host its process runs on, so only a replica on that host ends what a dead one left.
 */
export class PipelineDriverLease1764500000001 implements MigrationInterface {
  name = 'PipelineDriverLease1764500000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE pipeline_runs ADD COLUMN driver_id text, ADD COLUMN driver_lease_until timestamptz`,
    );
    await queryRunner.query(`ALTER TABLE pipeline_action_runs ADD COLUMN host text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE pipeline_action_runs DROP COLUMN host`);
    await queryRunner.query(
      `ALTER TABLE pipeline_runs DROP COLUMN driver_id, DROP COLUMN driver_lease_until`,
    );
  }
}
