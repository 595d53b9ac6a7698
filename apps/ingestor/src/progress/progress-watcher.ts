import { lstat, readdir } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { type FSWatcher, watch } from 'chokidar';
import { SETTINGS, type Settings } from '#platform';
import { ProgressIngestor } from './progress-ingestor.js';

const AUTOBUILD = ['.guardkit', 'autobuild'];
export const PROGRESS_FILE = 'progress.json';

/**
 * Watches `<root>/.guardkit/autobuild/<task_id>/progress.json` under every GUARDKIT_PROGRESS_ROOTS entry
 * (inotify through chokidar, descending only into those folders), with a periodic full scan as a backstop
 * for events the kernel dropped. Only files named exactly progress.json are read: writers' temp files never are.
 */
@Injectable()
export class ProgressWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ProgressWatcher.name);
  private watcher?: FSWatcher;
  private scanTimer?: NodeJS.Timeout;
  private scanning?: Promise<void>;

  constructor(
    private readonly ingestor: ProgressIngestor,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const roots = this.settings.ingest.progressRoots;
    const watcher = watch(roots, {
      ignored: (path) => !roots.some((root) => isOnProgressPath(root, path)),
      ignoreInitial: false,
      followSymlinks: false,
      depth: AUTOBUILD.length + 1,
    });
    watcher.on('add', (path) => void this.ingestor.changed(path));
    watcher.on('change', (path) => void this.ingestor.changed(path));
    watcher.on('error', (error) => this.logger.error({ err: error }, 'progress watcher error'));
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
    this.watcher = watcher;
    this.scanTimer = setInterval(() => {
      this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    }, this.settings.ingest.scanIntervalMs);
    this.logger.log({ roots }, 'watching GuardKit progress files');
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.scanTimer);
    await this.watcher?.close();
    await this.scanning;
    await this.ingestor.idle();
  }

  /** The backstop: every progress.json under every root, handed over if it changed since last handled. */
  async scan(): Promise<void> {
    for (const root of this.settings.ingest.progressRoots) {
      const autobuild = join(root, ...AUTOBUILD);
      const tasks = await readdir(autobuild, { withFileTypes: true }).catch(() => []);
      for (const task of tasks) {
        if (!task.isDirectory()) continue;
        const path = join(autobuild, task.name, PROGRESS_FILE);
        const stats = await lstat(path).catch(() => undefined);
        if (stats)
          await this.ingestor.scanned(path, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs });
      }
    }
  }
}

/** True for the root, its `.guardkit/autobuild` chain, a task folder, and a task's progress.json. */
export function isOnProgressPath(root: string, path: string): boolean {
  const rel = relative(root, path);
  if (rel === '') return true;
  if (rel.startsWith('..')) return false;
  const parts = rel.split(sep);
  if (parts.length <= AUTOBUILD.length) return parts.every((part, i) => part === AUTOBUILD[i]);
  if (parts[0] !== AUTOBUILD[0] || parts[1] !== AUTOBUILD[1]) return false;
  if (parts.length === AUTOBUILD.length + 1) return !basename(path).startsWith('.');
  return parts.length === AUTOBUILD.length + 2 && parts[AUTOBUILD.length + 1] === PROGRESS_FILE;
}
