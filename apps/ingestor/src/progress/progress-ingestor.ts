import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { buildEventType, type BuildStatusPayload, createEnvelope } from '#contracts';
import { Bus, EventPublisher, readStoredMessage } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { CoalescingRunner } from '../coalescing-runner.js';
import { IngestMetrics } from '../ingest-metrics.js';
import { INGESTOR_SOURCE_ID, RejectionPublisher } from '../rejections.js';
import { type FileStamp } from '../small-file.js';
import { readProgressFile } from './progress-file.js';

/** The header that carries the payload hash, so a restarted ingestor can tell what it already published. */
export const CONTENT_HASH_HEADER = 'Guardkit-Content-Sha256';

/**
 * SPEC 3.1: each change of a progress.json that validates is published to `guardkit.builds.<id>.status`,
 * once. "Once" holds across restarts without local state: the last message of the build's subject carries
 * the hash of its payload, and unchanged content is not published again. Nats-Msg-Id (build id and hash)
 * makes a retried publish stored once. A file that stays invalid after a few re-reads is rejected, once
 * per content, and read again at its next change.
 */
@Injectable()
export class ProgressIngestor {
  private readonly logger = new Logger(ProgressIngestor.name);
  private readonly runner = new CoalescingRunner(
    (path) => this.ingest(path),
    (path, error) =>
      this.logger.error(
        { err: error, path },
        'ingesting progress file failed; will retry at the next change or scan',
      ),
  );
  /** Per build: the payload hash last on the stream (from this process, or read back from the stream). */
  private readonly lastPublished = new Map<string, string>();
  /** Per path: the content last rejected, so a rescan does not repeat the rejection. */
  private readonly lastRejected = new Map<string, string>();
  /** Per path: the file as it was when last handled, so a scan can skip files that did not change. */
  private readonly stamps = new Map<string, FileStamp>();
  /** Per path: the build it last published, so the build's entry goes when the file does. */
  private readonly buildOf = new Map<string, string>();

  constructor(
    private readonly bus: Bus,
    private readonly publisher: EventPublisher,
    private readonly rejections: RejectionPublisher,
    private readonly metrics: IngestMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** A watcher event: always read the file. */
  changed(path: string): Promise<void> {
    return this.runner.schedule(path);
  }

  /** A backstop scan found the file: read it only if it looks different from when it was last handled. */
  scanned(path: string, stamp: FileStamp): Promise<void> {
    const known = this.stamps.get(path);
    if (known && known.ino === stamp.ino && known.size === stamp.size && known.mtimeMs === stamp.mtimeMs) {
      return Promise.resolve();
    }
    return this.runner.schedule(path);
  }

  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** A full scan saw these files: forget the ones it did not (their folders went without an event). */
  forgetAllBut(seen: ReadonlySet<string>): void {
    for (const path of [...this.stamps.keys(), ...this.lastRejected.keys()]) {
      if (!seen.has(path)) this.forget(path);
    }
  }

  /** Whether this process has read the file since it started (published it, or found it unchanged). */
  handled(path: string): boolean {
    return this.stamps.has(path);
  }

  /** Files this process holds state for (what the per-file maps hold; bounded by the files on disk). */
  tracked(): number {
    return new Set([...this.stamps.keys(), ...this.lastRejected.keys(), ...this.buildOf.keys()]).size;
  }

  private forget(path: string): void {
    this.stamps.delete(path);
    this.lastRejected.delete(path);
    const buildId = this.buildOf.get(path);
    this.buildOf.delete(path);
    if (buildId !== undefined) this.lastPublished.delete(buildId);
  }

  private async ingest(path: string): Promise<void> {
    const folder = basename(dirname(path));
    const { rereadAttempts, rereadDelayMs } = this.settings.ingest;
    for (let attempt = 0; ; attempt++) {
      const read = readProgressFile(path, folder);
      switch (read.kind) {
        case 'missing':
          this.forget(path);
          return;
        case 'valid':
          await this.publish(path, read.payload, read.payloadSha256, read.stamp.mtimeMs);
          this.buildOf.set(path, read.payload.build_id);
          this.lastRejected.delete(path);
          this.stamps.set(path, read.stamp);
          return;
        case 'invalid':
          // A writer that does not rename atomically may be mid-write: look again shortly before refusing.
          if (attempt < rereadAttempts) {
            await sleep(rereadDelayMs * (attempt + 1));
            continue;
          }
          await this.reject(path, read.reason, read.problems, read.contentSha256);
          this.stamps.set(path, read.stamp);
          return;
      }
    }
  }

  private async publish(
    path: string,
    payload: BuildStatusPayload,
    hash: string,
    writtenAtMs: number,
  ): Promise<void> {
    const buildId = payload.build_id;
    const subject = this.bus.subjects.buildStatus(buildId);
    let previous = this.lastPublished.get(buildId);
    let isFirstEvent = false;
    if (previous === undefined) {
      const last = await readStoredMessage(this.bus.jsm, this.bus.subjects.streamName('builds'), {
        last_by_subj: subject,
      });
      previous = last?.header.get(CONTENT_HASH_HEADER) ?? '';
      isFirstEvent = last === null;
    }
    if (previous === hash) {
      this.lastPublished.set(buildId, hash);
      this.metrics.taken('progress', 'unchanged');
      return;
    }
    const messageId = `progress-${buildId}-${hash.slice(0, 32)}`;
    const envelope = createEnvelope({
      message_id: messageId,
      source_id: INGESTOR_SOURCE_ID,
      event_type: buildEventType(payload.status, isFirstEvent),
      project: basename(this.rootOf(path)),
      correlation_id: buildId,
      payload,
    });
    const ack = await this.publisher.publish(subject, envelope, {
      msgId: messageId,
      headers: { [CONTENT_HASH_HEADER]: hash },
    });
    this.lastPublished.set(buildId, hash);
    this.metrics.published('progress', writtenAtMs);
    // (an object and a call through Nest's logger into pino per event: 3% of the ingestor's JavaScript at INFO, for nothing)
    if (this.settings.log.debug)
      this.logger.debug(
        { build_id: buildId, seq: ack.seq, status: payload.status, duplicate: ack.duplicate },
        'published build status',
      );
  }

  private async reject(
    path: string,
    reason: string,
    problems: string[],
    contentSha256?: string,
  ): Promise<void> {
    const key = contentSha256 ?? reason;
    if (this.lastRejected.get(path) === key) return;
    await this.rejections.reject({
      bridge: 'progress',
      path,
      reason,
      problems,
      ...(contentSha256 === undefined ? {} : { content_sha256: contentSha256 }),
    });
    this.lastRejected.set(path, key);
  }

  private rootOf(path: string): string {
    return this.settings.ingest.progressRoots.find((root) => path.startsWith(`${root}/`)) ?? dirname(path);
  }
}
