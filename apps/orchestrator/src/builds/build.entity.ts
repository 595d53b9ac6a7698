import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { BuildStatus, BuildStatusPayload } from '#contracts';

/** PostgreSQL returns bigint as text; stream sequences stay well inside 2^53. */
export const bigintAsNumber = {
  to: (value: number) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** The latest status of each build: the projection of GUARDKIT_BUILDS that answers REST queries. */
@Entity({ name: 'builds' })
export class BuildEntity {
  @PrimaryColumn({ name: 'build_id', type: 'text' }) buildId: string;
  @Column({ type: 'text' }) status: BuildStatus;
  @Column({ type: 'text', nullable: true }) project: string | null;
  @Column({ name: 'progress_pct', type: 'smallint' }) progressPct: number;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt: Date | null;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
  /** When the stream stored the latest status: what `stale` is judged by. */
  @Column({ name: 'received_at', type: 'timestamptz' }) receivedAt: Date;
  /** Stream sequence of the status event shown; an older event never overwrites a newer one. */
  @Column({ name: 'last_seq', type: 'bigint', transformer: bigintAsNumber }) lastSeq: number;
  @Column({ type: 'jsonb' }) latest: BuildStatusPayload;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
