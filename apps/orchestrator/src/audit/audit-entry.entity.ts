import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Who overrode, replayed, purged or blocked what, and why. Rows are only ever added. */
@Entity({ name: 'audit_log' })
export class AuditEntryEntity {
  /** bigserial: a string, as pg returns it */
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column({ type: 'timestamptz' }) at: Date;
  @Column({ type: 'text' }) action: string;
  @Column({ name: 'subject_type', type: 'text' }) subjectType: string;
  @Column({ name: 'subject_id', type: 'text' }) subjectId: string;
  @Column({ type: 'text', nullable: true }) reason: string | null;
  @Column({ type: 'jsonb' }) details: object;
}
