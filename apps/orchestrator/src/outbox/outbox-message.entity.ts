import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { OutboxRole } from '#contracts';
import { bigintAsNumber } from '../builds/build.entity.js';

/** Every outbox message, once: the stream sequence is the key (and the `id` AutoAppDev clients see). */
@Entity({ name: 'outbox_messages' })
export class OutboxMessageEntity {
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber }) seq: number;
  @Column({ type: 'text' }) source: string;
  @Column({ type: 'text' }) role: OutboxRole;
  @Column({ type: 'text' }) content: string;
  @Column({ type: 'boolean' }) truncated: boolean;
  @Column({ name: 'file_name', type: 'text', nullable: true }) fileName: string | null;
  @Column({ name: 'file_ts', type: 'timestamptz', nullable: true }) fileTs: Date | null;
  /** When the message was published (the envelope's timestamp): the same after a rebuild from the stream. */
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
