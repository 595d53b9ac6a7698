import type { DataSource, DataSourceOptions } from 'typeorm';
import { BuildEntity } from '../builds/build.entity.js';
import { ProjectionPositionEntity } from '../projections/projection-position.entity.js';
import { OutboxMessageEntity } from '../outbox/outbox-message.entity.js';
import { CreateBuilds1764000000000 } from './migrations/1764000000000-create-builds.js';
import { CreateOutboxMessages1764100000000 } from './migrations/1764100000000-create-outbox-messages.js';
import { CreateTriggers1764200000000 } from './migrations/1764200000000-create-triggers.js';
import { Reliability1764300000000 } from './migrations/1764300000000-reliability.js';
import { BuildReceivedAt1764400000000 } from './migrations/1764400000000-build-received-at.js';
import { CreatePipelines1764500000000 } from './migrations/1764500000000-create-pipelines.js';
import { PipelineDriverLease1764500000001 } from './migrations/1764500000001-pipeline-driver-lease.js';
import { AutoAppDev1764600000000 } from './migrations/1764600000000-autoappdev.js';
import { CreateWorkflows1764700000000 } from './migrations/1764700000000-create-workflows.js';
import { AuditActor1764800000000 } from './migrations/1764800000000-audit-actor.js';
import { AuditEntryEntity } from '../audit/audit-entry.entity.js';
import { SessionEntity } from '../sessions/session.entity.js';
import { TriggerAttemptEntity, TriggerJobEntity, TriggerThreadEntity } from '../triggers/trigger.entities.js';

export const ENTITIES = [
  BuildEntity,
  ProjectionPositionEntity,
  OutboxMessageEntity,
  SessionEntity,
  TriggerJobEntity,
  TriggerAttemptEntity,
  TriggerThreadEntity,
  AuditEntryEntity,
];
export const MIGRATIONS = [
  CreateBuilds1764000000000,
  CreateOutboxMessages1764100000000,
  CreateTriggers1764200000000,
  Reliability1764300000000,
  BuildReceivedAt1764400000000,
  CreatePipelines1764500000000,
  PipelineDriverLease1764500000001,
  AutoAppDev1764600000000,
  CreateWorkflows1764700000000,
  AuditActor1764800000000,
];

/** The schema is owned by migrations alone: never `synchronize`. */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false, // migrateOnce, under a lock
    migrationsTransactionMode: 'each',
    synchronize: false,
    // failed queries reach the caller, which says what failed; TypeORM would also print every parameter
    logging: ['warn', 'migration'],
    applicationName: 'guardkit-orchestrator',
  };
}

/** Any fixed number: the advisory lock that makes orchestrators starting together migrate one at a time. */
const MIGRATION_LOCK = 7_162_300_416;

/**
 * Pending migrations, run by one orchestrator at a time: replicas that start together wait for the first
 * (a session advisory lock in PostgreSQL), then find nothing left to run.
 */
export async function migrateOnce(db: DataSource): Promise<void> {
  const runner = db.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await db.runMigrations({ transaction: 'each' });
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await runner.release();
  }
}
