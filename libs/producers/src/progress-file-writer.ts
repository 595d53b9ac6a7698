import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertSafeId, type BuildStatus, type BuildStatusCore } from '#contracts';

/** What a writer says about a build: the status payload less what the writer fills in (ids, times, progress_pct). */
export type ProgressUpdate = Omit<
  BuildStatusCore,
  'build_id' | 'task_id' | 'status' | 'started_at' | 'updated_at'
> & {
  build_id?: string;
  status: BuildStatus | 'error';
  started_at?: string;
  [extra: string]: unknown;
};

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
    this.startedAt ??= update.started_at ?? now;
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
