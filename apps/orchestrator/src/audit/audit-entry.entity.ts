import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Who overrode, replayed, purged or blocked what, and why; every admin and run request. Rows are only ever added. */
@Entity({ name: 'audit_log' })
export class AuditEntryEntity {
  /** bigserial: a string, as pg returns it */
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column({ type: 'timestamptz' }) at: Date;
  @Column({ type: 'text' }) action: string;
  @Column({ name: 'subject_type', type: 'text' }) subjectType: string;
  @Column({ name: 'subject_id', type: 'text' }) subjectId: string;
  @Column({ type: 'text', nullable: true }) reason: string | null;
  /** The token's `sub` of the request (SPEC 4.3); null when access is open or before it was kept. */
  @Column({ type: 'text', nullable: true }) actor: string | null;
  @Column({ type: 'jsonb' }) details: object;
}
