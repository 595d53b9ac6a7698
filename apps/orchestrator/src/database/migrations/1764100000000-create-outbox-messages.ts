import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateOutboxMessages1764100000000 implements MigrationInterface {
  name = 'CreateOutboxMessages1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
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
    await queryRunner.query(
      `CREATE INDEX outbox_messages_source_seq_idx ON outbox_messages (source, seq DESC)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE outbox_messages`);
  }
}
