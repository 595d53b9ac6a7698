import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertSafeId, type BuildStatus } from '#contracts';

/** What a writer says about a build; the writer adds `updated_at` (and `started_at` once). */
export interface ProgressUpdate {
  build_id?: string;
  build_type: string;
  status: BuildStatus | 'error';
  wave: number;
  wave_total: number;
  task_name: string;
  turn: number;
  turn_max: number;
  phase: string;
  phase_status: string;
  metrics: {
    elapsed_seconds: number;
    files_created: number;
    files_modified: number;
    tests_passed: number;
    tests_total: number;
  };
  [extra: string]: unknown;
}

/**
 * Writes `<root>/.guardkit/autobuild/<task_id>/progress.json` the way GuardKit does (seed 001): the whole
 * document to a temp file in the same folder (a name starting with `.`, which the ingestor never reads),
 * then a rename over the old file, so a reader sees the old document or the new one, never half of one.
 */
export class ProgressFileWriter {
  readonly path: string;
  private readonly dir: string;
  private startedAt?: string;

  constructor(
    root: string,
    readonly taskId: string,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.dir = join(root, '.guardkit', 'autobuild', assertSafeId('task id', taskId));
    this.path = join(this.dir, 'progress.json');
  }

  /** Writes one update atomically and returns the document written. */
  async write(update: ProgressUpdate): Promise<Record<string, unknown>> {
    const now = this.clock().toISOString();
    this.startedAt ??= typeof update['started_at'] === 'string' ? update['started_at'] : now;
    const document = { task_id: this.taskId, started_at: this.startedAt, ...update, updated_at: now };
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `.progress.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(temp, `${JSON.stringify(document, null, 2)}\n`);
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return document;
  }
}
