import type { DataSourceOptions } from 'typeorm';
import { BuildEntity, ProjectionPositionEntity } from '../builds/build.entity.js';
import { CreateBuilds1764000000000 } from './migrations/1764000000000-create-builds.js';

export const ENTITIES = [BuildEntity, ProjectionPositionEntity];
export const MIGRATIONS = [CreateBuilds1764000000000];

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
