import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '#platform';
import { CoalescingRunner } from '../coalescing-runner.js';
import { DirectoryWatches } from '../directory-watch.js';
import { ProgressIngestor } from './progress-ingestor.js';

export const PROGRESS_FILE = 'progress.json';

/**
 * Watches `<root>/.guardkit/autobuild/<task_id>/progress.json` under every GUARDKIT_PROGRESS_ROOTS entry.
 * One directory watch per level of that chain and per task folder, so a root where GuardKit has not run yet
 * is picked up the moment `.guardkit` appears. A periodic scan (INGEST_SCAN_INTERVAL_MS) is the backstop:
 * it brings the watches in step with the disk and hands over any progress.json that changed unseen.
 * Only files named exactly progress.json are read; writers' temp files never are.
 */
@Injectable()
export class ProgressWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ProgressWatcher.name);
  private readonly watches = new DirectoryWatches(() => void this.scanSoon());
  /** One scan at a time; a scan asked for while one runs runs once more afterwards. */
  private readonly scans = new CoalescingRunner(
    () => this.scan(),
    (_key, error) => this.logger.error({ err: error }, 'progress scan failed'),
  );
  private scanTimer?: NodeJS.Timeout;

  constructor(
    private readonly ingestor: ProgressIngestor,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.scanSoon();
    this.scanTimer = setInterval(() => void this.scanSoon(), this.settings.ingest.scanIntervalMs);
    this.logger.log({ roots: this.settings.ingest.progressRoots }, 'watching GuardKit progress files');
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.scanTimer);
    this.watches.closeAll();
    await this.scans.idle();
    await this.ingestor.idle();
  }

  scanSoon(): Promise<void> {
    return this.scans.schedule('tree');
  }

  /** Watches every folder of the chain that exists, and hands over every progress.json found. */
  private async scan(): Promise<void> {
    const seen = new Set<string>();
    const present = new Set<string>(); // folders this scan found: no need to ask again whether they are gone
    for (const root of this.settings.ingest.progressRoots) {
      const guardkit = join(root, '.guardkit');
      const autobuild = join(guardkit, 'autobuild');
      // Each level watches for the next one appearing.
      await this.watches.watch(root, (name) => name === '.guardkit' && void this.scanSoon());
      await this.watches.watch(guardkit, (name) => name === 'autobuild' && void this.scanSoon());
      await this.watches.watch(
        autobuild,
        (name) => !name.startsWith('.') && void this.taskChanged(join(autobuild, name)),
      );
      const tasks = await readdir(autobuild, { withFileTypes: true }).catch(() => []);
      for (const task of tasks) {
        if (!task.isDirectory() || task.name.startsWith('.')) continue;
        const dir = join(autobuild, task.name);
        present.add(dir);
        await this.watchTask(dir);
        const file = join(dir, PROGRESS_FILE);
        const stats = await lstat(file).catch(() => undefined);
        if (stats) {
          seen.add(file);
          void this.ingestor.scanned(file, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs });
        }
      }
    }
    this.ingestor.forgetAllBut(seen);
    for (const dir of this.watches.dirs()) if (!present.has(dir)) await this.watches.unwatchIfGone(dir);
  }

  /** An entry of an autobuild folder appeared or went: watch a new task folder and read what it holds. */
  private async taskChanged(dir: string): Promise<void> {
    if (await this.watches.unwatchIfGone(dir)) return;
    if (await this.watchTask(dir)) {
      // The file may have been renamed into place before the watch existed.
      void this.ingestor.changed(join(dir, PROGRESS_FILE));
    }
  }

  private watchTask(dir: string): Promise<boolean> {
    const file = join(dir, PROGRESS_FILE);
    return this.watches.watch(dir, (name) => name === PROGRESS_FILE && void this.ingestor.changed(file));
  }
}
