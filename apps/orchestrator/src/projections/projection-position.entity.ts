import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../builds/build.entity.js';

/**
 * Where each projection has got to in its stream, kept in the same database as the data it projects,
 * so a new or restored database catches up from the stream by itself.
 */
@Entity({ name: 'projection_positions' })
export class ProjectionPositionEntity {
  @PrimaryColumn({ type: 'text' }) projection: string;
  @Column({ name: 'last_seq', type: 'bigint', transformer: bigintAsNumber }) lastSeq: number;
  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' }) updatedAt: Date;
}
