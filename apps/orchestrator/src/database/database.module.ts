import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SETTINGS, type Settings } from '#platform';
import { dataSourceOptions, migrateOnce } from './data-source.js';
import { DatabaseLink } from './database-link.js';
import { ensureDatabase } from './ensure-database.js';

/** PostgreSQL, created if missing and migrated on start (by one orchestrator at a time). */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [SETTINGS],
      useFactory: async (settings: Settings) => {
        await ensureDatabase(settings.database.url);
        return { ...dataSourceOptions(settings.database.url), retryAttempts: 3, retryDelay: 1000 };
      },
      dataSourceFactory: async (options) => {
        const db = await new DataSource(options!).initialize();
        await migrateOnce(db);
        return db;
      },
    }),
  ],
  providers: [DatabaseLink],
})
export class DatabaseModule {}
