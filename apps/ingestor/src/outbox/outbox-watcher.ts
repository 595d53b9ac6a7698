import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '#platform';
import { DirectoryWatches } from '../directory-watch.js';
import { OutboxIngestor } from './outbox-ingestor.js';

/**
 * Watches each source's runtime folder (for `outbox/` appearing) and its `outbox/` (for files renamed into
 * place); either event asks for a drain. A periodic scan drains every source as the backstop.
 */
@Injectable()
export class OutboxWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(OutboxWatcher.name);
  private readonly watches = new DirectoryWatches();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ingestor: OutboxIngestor,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // The queue folder is ours to create, as AutoAppDev's backend does, so it is watched from the first file on.
    for (const source of this.ingestor.sources) {
      await mkdir(join(source.runtimeDir, 'outbox'), { recursive: true }).catch((error: unknown) =>
        this.logger.warn(
          { source: source.name, reason: (error as Error).message },
          'cannot create the outbox folder',
        ),
      );
    }
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.settings.ingest.scanIntervalMs);
    this.logger.log({ sources: this.ingestor.sources }, 'watching AutoAppDev outboxes');
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    this.watches.closeAll();
    await this.ingestor.idle();
  }

  private async scan(): Promise<void> {
    await Promise.all(
      this.ingestor.sources.map(async (source) => {
        const outbox = join(source.runtimeDir, 'outbox');
        await this.watches.watch(source.runtimeDir, (name) => name === 'outbox' && void this.scan());
        await this.watches.watch(
          outbox,
          (name) => !name.startsWith('.') && void this.ingestor.schedule(source.name),
        );
        await this.ingestor.schedule(source.name);
      }),
    );
  }
}
