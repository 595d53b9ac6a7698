import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { SETTINGS, type Settings } from '#platform';

/** How often PostgreSQL is asked whether it answers. */
const PROBE_MS = 1000;

/**
 * Says once that PostgreSQL stopped answering, and once that it is back (what waits on it retries by itself and
 * readiness says the same meanwhile). A one-row query every second: the pool's own errors only tell of idle
 * connections, not of a server that went away while nothing was asked.
 */
@Injectable()
export class DatabaseLink implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('PostgreSQL');
  private probe?: NodeJS.Timeout;
  private down = false;
  private asking = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    this.probe = setInterval(() => void this.check(), PROBE_MS);
    this.probe.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.probe);
  }

  private async check(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    try {
      await Promise.race([
        this.db.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 2 s')), 2000).unref()),
      ]);
      if (this.down) this.logger.log('PostgreSQL answers again');
      this.down = false;
    } catch (error) {
      if (!this.down) {
        const { host, pathname } = new URL(this.settings.database.url);
        this.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          `PostgreSQL is not answering at ${host}${pathname} (DATABASE_URL); retrying, and saying once when it is back`,
        );
      }
      this.down = true;
    } finally {
      this.asking = false;
    }
  }
}
