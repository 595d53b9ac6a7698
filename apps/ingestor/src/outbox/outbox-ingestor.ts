import { lstatSync } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createEnvelope, GuardkitError, OUTBOX_ROLES, type OutboxMessagePayload } from '#contracts';
import type { StoredMsg } from '@nats-io/jetstream';
import { Bus, EventPublisher, readStoredMessage, type StoredMessageQuery } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { CoalescingRunner } from '../coalescing-runner.js';
import { IngestMetrics } from '../ingest-metrics.js';
import { INGESTOR_SOURCE_ID, RejectionPublisher } from '../rejections.js';
import {
  byOutboxOrder,
  isoFromNs,
  type OutboxFileName,
  parseOutboxName,
  type Prepared,
  readOutboxFile,
} from './outbox-file.js';

/** On each outbox message: which file it came from and the hash of its bytes, to recognise it after a crash. */
export const OUTBOX_FILE_HEADER = 'Guardkit-Outbox-File';

type Source = Settings['ingest']['outboxSources'][number];

/** How many published files may wait for their move at once. */
const MAX_MOVING = 32;
/**
 * Publishes in flight at once per source: the next files go out while the earlier acknowledgements come back,
 * and nats.js writes them to the socket together (one write per publish cost the burst a third of its CPU).
 */
export const OUTBOX_PUBLISH_WINDOW = 16;
/**
 * How many of the newest messages of each of a source's subjects the crash check reads: every file published
 * and not yet moved (in flight, or waiting for its move) is among them.
 */
const RECENT_MESSAGES = 2 * (MAX_MOVING + OUTBOX_PUBLISH_WINDOW);
/**
 * An empty file this fresh may be a writer's first step (`echo text > 1_pipeline.md` creates the name, then
 * writes): it is read again once it is this old, and only then taken as empty.
 */
export const OUTBOX_SETTLE_MS = 2000;

/** The drain stopped at a file still being written; the source is drained again once it may have settled. */
class NotSettled {
  constructor(readonly waitMs: number) {}
}

/**
 * SPEC 3.2: drains `<runtime>/outbox/` of each source in order (timestamp read as s/ms/µs/ns, then name).
 * A file is published with a Nats-Msg-Id, and moved to `processed/` (or deleted) only after the stream
 * acknowledged it. Refused files go to `rejected/` with a `.reason.json` and a `guardkit.ingest.rejected` event.
 *
 * Crash safety: files are published in order, up to OUTBOX_PUBLISH_WINDOW in flight, and moved behind (at most
 * MAX_MOVING at once), so a crash can leave published files in the folder. Each message carries its file's
 * name and content hash in a header; after a start, or after a publish failed, the newest messages of the
 * source's subjects are read and every file found there is moved without a second publish (`recover`). The
 * check is by file, not by position: a publish that fails while later ones of its window are stored leaves a
 * gap, and that file is published again, after them (the one case where the stream's order differs from the
 * files'; it is logged).
 */
@Injectable()
export class OutboxIngestor {
  private readonly logger = new Logger(OutboxIngestor.name);
  private readonly drains = new CoalescingRunner(
    (source) => this.drain(source),
    (source, error) => {
      // NATS away or slow is routine, and retried: a warning; anything else is an error
      const transient = error instanceof GuardkitError && error.retryable;
      this.logger[transient ? 'warn' : 'error'](
        { err: transient ? (error as Error).message : error, source },
        'draining the outbox failed; will retry at the next change or scan',
      );
    },
  );
  /** Sources whose folder was compared with the stream since start (the crash check). */
  private readonly recovered = new Set<string>();
  /** Moves running behind the publishes. */
  private readonly moving = new Set<Promise<void>>();
  /** Files published whose move failed: moved again, never published again. */
  private readonly publishedNotMoved = new Map<string, string>();
  private readonly blocked = new Set<string>();

  constructor(
    private readonly bus: Bus,
    private readonly publisher: EventPublisher,
    private readonly rejections: RejectionPublisher,
    private readonly metrics: IngestMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  get sources(): Source[] {
    return this.settings.ingest.outboxSources;
  }

  /** Asks for a drain of one source (coalesced: at most one running and one more waiting). */
  schedule(source: string): Promise<void> {
    return this.drains.schedule(source);
  }

  idle(): Promise<void> {
    return this.drains.idle();
  }

  private async drain(sourceName: string): Promise<void> {
    const source = this.sources.find((s) => s.name === sourceName);
    if (!source) return;
    const dir = join(source.runtimeDir, 'outbox');
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const files = names.flatMap((name) => parseOutboxName(name) ?? []).sort(byOutboxOrder);
    if (files.length === 0) return;
    if (!(await this.canFinish(source, dir))) return;
    // Reading has no side effects: a file the crash check read is not read again.
    const prepared: (Prepared | undefined)[] = [];
    const ready = (i: number): Prepared => (prepared[i] ??= this.prepare(dir, files[i]));
    const window = new PublishWindow(OUTBOX_PUBLISH_WINDOW);
    try {
      let done = new Set<number>();
      if (!this.recovered.has(source.name)) {
        done = await this.recover(source, dir, files, ready);
        this.recovered.add(source.name);
      }
      for (let i = 0; i < files.length; i++) {
        if (done.has(i)) continue;
        // a full window waits until half of it is free: the publishes that follow go out in one write
        if (!window.hasRoom) await window.room();
        const file = ready(i);
        prepared[i] = undefined;
        const step = this.commit(source, dir, files[i], file, window, i);
        if (step instanceof NotSettled) {
          // order is kept: nothing after it goes first; look again once it may have settled
          await window.settle();
          setTimeout(() => void this.schedule(source.name), step.waitMs).unref();
          return;
        }
        if (step) await step;
      }
      await window.settle();
    } catch (error) {
      // A publish that failed may still have been stored (its acknowledgement was lost), and later ones of its
      // window may have been: the next drain looks at the stream first, so each file is published once.
      await window.settled();
      if (window.storedAfterFailure) {
        this.logger.warn(
          { source: source.name, file: files[window.firstFailed!].name },
          'a publish failed while later files of its window were stored: it is published again after them',
        );
      }
      this.recovered.delete(source.name);
      throw error;
    } finally {
      await Promise.all(this.moving);
    }
  }

  /**
   * After a start or a failed publish: the files already on the stream (a crash or a failure came between
   * their publish and their move) are found among the newest messages of the source's subjects, by the name
   * and hash each message carries, and moved without a second publish. Returns the indexes of those files.
   */
  private async recover(
    source: Source,
    dir: string,
    files: OutboxFileName[],
    ready: (i: number) => Prepared,
  ): Promise<Set<number>> {
    const markers = new Set<string>();
    for (const role of OUTBOX_ROLES) {
      for (const message of await this.newestOf(
        this.bus.subjects.outbox(source.name, role),
        RECENT_MESSAGES,
      )) {
        const marker = message.header.get(OUTBOX_FILE_HEADER);
        if (marker) markers.add(marker);
      }
    }
    const published = new Set<number>();
    if (markers.size === 0) return published;
    for (let i = 0; i < Math.min(files.length, RECENT_MESSAGES); i++) {
      const file = ready(i);
      if (file.kind === 'read' && markers.has(`${files[i].name}:${file.hash}`)) published.add(i);
    }
    if (published.size > 0) {
      this.logger.warn(
        { source: source.name, files: published.size },
        'outbox files were published before a restart or a failed publish; moving them on',
      );
      for (const i of published) await this.finish(dir, files[i].name, join(dir, files[i].name));
    }
    return published;
  }

  /**
   * The newest `count` messages of a subject, oldest first, by message get (no consumer is left behind): from
   * the subject's last message, a range that grows fourfold until it holds `count` of them or the whole stream.
   */
  private async newestOf(subject: string, count: number): Promise<StoredMsg[]> {
    const stream = this.bus.subjects.streamName('outbox');
    const get = (query: StoredMessageQuery) => readStoredMessage(this.bus.jsm, stream, query);
    const last = await get({ last_by_subj: subject });
    if (!last) return [];
    for (let span = count; ; span *= 4) {
      const from = Math.max(1, last.seq - span);
      const found: StoredMsg[] = [];
      for (let seq = from; seq <= last.seq;) {
        const message = await get({ seq, next_by_subj: subject });
        if (!message || message.seq > last.seq) break;
        found.push(message);
        seq = message.seq + 1;
      }
      if (found.length >= count || from === 1) return found.slice(-count);
    }
  }

  /** Nothing is published unless the file can be moved afterwards: a message must not be stored twice. */
  private async canFinish(source: Source, dir: string): Promise<boolean> {
    if (this.settings.ingest.outboxAfterIngest === 'delete') return true;
    try {
      await mkdir(join(dir, 'processed'), { recursive: true });
      if (!(await lstat(join(dir, 'processed'))).isDirectory()) throw new Error('processed is not a folder');
      if (this.blocked.delete(source.name))
        this.logger.log({ source: source.name, dir }, 'outbox processed/ folder usable again');
      return true;
    } catch (error) {
      if (!this.blocked.has(source.name)) {
        this.logger.error(
          { source: source.name, dir: join(dir, 'processed'), reason: (error as Error).message },
          'cannot move ingested outbox files into processed/: leaving the outbox untouched until it can',
        );
        this.blocked.add(source.name);
      }
      return false;
    }
  }

  private prepare(dir: string, file: OutboxFileName): Prepared {
    return readOutboxFile(join(dir, file.name), this.settings.ingest.outboxMaxChars);
  }

  /**
   * One prepared file: published into the window at once (synchronously, so publishes issued together are
   * written together) and moved on once acknowledged; or a step to await (refused, empty, published before);
   * or NotSettled.
   */
  private commit(
    source: Source,
    dir: string,
    file: OutboxFileName,
    ready: Prepared,
    window: PublishWindow,
    index: number,
  ): NotSettled | Promise<void> | undefined {
    const path = join(dir, file.name);
    switch (ready.kind) {
      case 'gone':
        return; // vanished between the listing and the read
      case 'refused':
        return this.reject(source, dir, file.name, ready.reason, ready.problems);
      case 'read':
        break;
    }
    const marker = `${file.name}:${ready.hash}`;
    if (this.publishedNotMoved.get(path) === marker) return this.finish(dir, file.name, path);
    if (ready.content === '') {
      const age = Date.now() - ready.mtimeMs;
      if (age < OUTBOX_SETTLE_MS) return new NotSettled(OUTBOX_SETTLE_MS - age + 10);
      this.logger.log({ source: source.name, file: file.name }, 'empty outbox file: nothing to publish');
      this.metrics.taken('outbox', 'empty');
      return this.finish(dir, file.name, path);
    }
    const subject = this.bus.subjects.outbox(source.name, file.role);
    const payload: OutboxMessagePayload = {
      source: source.name,
      role: file.role,
      content: ready.content,
      truncated: ready.truncated,
      file_name: file.name,
    };
    const fileTs = isoFromNs(file.tsNs);
    if (fileTs) payload.file_ts = fileTs;
    const messageId = `outbox-${source.name}-${file.name}-${ready.hash.slice(0, 16)}`;
    const published = this.publisher
      .publish(
        subject,
        createEnvelope({
          message_id: messageId,
          source_id: INGESTOR_SOURCE_ID,
          event_type: 'outbox_message',
          payload,
        }),
        { msgId: messageId, headers: { [OUTBOX_FILE_HEADER]: marker } },
      )
      .then(() => {
        this.publishedNotMoved.set(path, marker);
        this.metrics.published('outbox', ready.mtimeMs);
        return this.finishBehind(dir, file.name, path);
      });
    window.send(index, published);
    return undefined;
  }

  /** Moves a published file without holding up the next publish; at most MAX_MOVING at once. */
  private async finishBehind(dir: string, name: string, path: string): Promise<void> {
    while (this.moving.size >= MAX_MOVING) await Promise.race(this.moving);
    const move = this.finish(dir, name, path)
      .catch((error: unknown) =>
        this.logger.error(
          { err: error, file: name },
          'moving a published outbox file failed; it will be moved at the next drain',
        ),
      )
      .finally(() => this.moving.delete(move));
    this.moving.add(move);
  }

  /** After the acknowledgement: into processed/ (a clash gets a suffix), or deleted. */
  private async finish(dir: string, name: string, path: string): Promise<void> {
    if (this.settings.ingest.outboxAfterIngest === 'delete') await rm(path, { force: true });
    else await rename(path, freeName(join(dir, 'processed'), name));
    this.publishedNotMoved.delete(path);
  }

  private async reject(
    source: Source,
    dir: string,
    name: string,
    reason: string,
    problems: string[],
  ): Promise<void> {
    const rejected = join(dir, 'rejected');
    await mkdir(rejected, { recursive: true });
    const target = freeName(rejected, name);
    await rename(join(dir, name), target);
    await writeFile(
      `${target}.reason.json`,
      `${JSON.stringify({ file: name, source: source.name, reason, problems, rejected_at: new Date().toISOString() }, null, 2)}\n`,
    );
    await this.rejections.reject({ bridge: 'outbox', path: join(dir, name), reason, problems });
  }
}

/**
 * `name` in `dir`, or `stem-1.ext`, `stem-2.ext`… if taken. Synchronous, and without an error for the usual
 * answer (not there): through the thread pool, with an ENOENT error built each time, this check cost 10% of
 * the ingestor's CPU in an outbox burst.
 */
function freeName(dir: string, name: string): string {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem}-${n}${ext}`);
    if (!lstatSync(candidate, { throwIfNoEntry: false })) return candidate;
  }
}

/**
 * The publishes of one drain in flight, at most `size` at once, in the order they were sent. The first failure
 * stops the drain: `room` and `settle` throw it once every publish in flight has settled, so the crash check
 * that follows sees what they stored.
 */
export class PublishWindow {
  private readonly inFlight: Promise<void>[] = [];
  private failure?: { error: unknown };
  /** The index of the first file whose publish failed; and whether a later one was stored all the same. */
  firstFailed?: number;
  storedAfterFailure = false;
  private lastStored = -1;

  constructor(private readonly size: number) {}

  /** Another publish may be sent now. */
  get hasRoom(): boolean {
    return this.inFlight.length < this.size && !this.failure;
  }

  /** Waits until half the window is free (the next publishes then go out together); throws a failure. */
  async room(): Promise<void> {
    while (this.inFlight.length > this.size / 2 && !this.failure) await this.inFlight.shift();
    if (this.failure) await this.settle();
  }

  send(index: number, publish: Promise<unknown>): void {
    this.inFlight.push(
      publish.then(
        () => {
          this.lastStored = Math.max(this.lastStored, index);
          if (this.firstFailed !== undefined && index > this.firstFailed) this.storedAfterFailure = true;
        },
        (error: unknown) => {
          this.failure ??= { error };
          if (this.firstFailed === undefined || index < this.firstFailed) this.firstFailed = index;
          if (this.lastStored > index) this.storedAfterFailure = true;
        },
      ),
    );
  }

  /** Waits for every publish in flight; throws the first failure. */
  async settle(): Promise<void> {
    await this.settled();
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every publish in flight, whatever became of them. */
  async settled(): Promise<void> {
    while (this.inFlight.length > 0) await Promise.all(this.inFlight.splice(0));
  }
}
