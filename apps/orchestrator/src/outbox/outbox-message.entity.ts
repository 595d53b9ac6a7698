import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { OutboxRole } from '#contracts';
import { bigintAsNumber } from '../builds/build.entity.js';

/**
 * Every outbox message, once (by its envelope's message id). `id` is the order in which messages were stored,
 * which is stream order: the `id` AutoAppDev clients see and page by.
 */
@Entity({ name: 'outbox_messages' })
export class OutboxMessageEntity {
  /** bigserial: a string, as pg returns it */
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column({ name: 'message_id', type: 'text' }) messageId: string;
  /** Its sequence in GUARDKIT_OUTBOX (not unique: a stream made anew starts again at 1). */
  @Column({ type: 'bigint', transformer: bigintAsNumber }) seq: number;
  @Column({ type: 'text' }) source: string;
  @Column({ type: 'text' }) role: OutboxRole;
  @Column({ type: 'text' }) content: string;
  @Column({ type: 'boolean' }) truncated: boolean;
  @Column({ name: 'file_name', type: 'text', nullable: true }) fileName: string | null;
  @Column({ name: 'file_ts', type: 'timestamptz', nullable: true }) fileTs: Date | null;
  /** When the message was published (the envelope's timestamp): the same after a rebuild from the stream. */
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
