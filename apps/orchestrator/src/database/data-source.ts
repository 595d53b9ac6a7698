import type { DataSourceOptions } from 'typeorm';
import { BuildEntity } from '../builds/build.entity.js';
import { ProjectionPositionEntity } from '../projections/projection-position.entity.js';
import { OutboxMessageEntity } from '../outbox/outbox-message.entity.js';
import { CreateBuilds1764000000000 } from './migrations/1764000000000-create-builds.js';
import { CreateOutboxMessages1764100000000 } from './migrations/1764100000000-create-outbox-messages.js';

export const ENTITIES = [BuildEntity, ProjectionPositionEntity, OutboxMessageEntity];
export const MIGRATIONS = [CreateBuilds1764000000000, CreateOutboxMessages1764100000000];

/** The schema is owned by migrations alone: never `synchronize`. */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: true,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error', 'warn'],
    applicationName: 'guardkit-orchestrator',
  };
}
