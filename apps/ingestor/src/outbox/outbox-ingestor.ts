import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createEnvelope, type OutboxMessagePayload } from '#contracts';
import { Bus, EventPublisher } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { CoalescingRunner } from '../coalescing-runner.js';
import { INGESTOR_SOURCE_ID, RejectionPublisher } from '../rejections.js';
import {
  byOutboxOrder,
  decodeOutboxContent,
  isoFromNs,
  MAX_OUTBOX_FILE_BYTES,
  type OutboxFileName,
  parseOutboxName,
} from './outbox-file.js';

/** On each outbox message: which file it came from and the hash of its bytes, to recognise it after a crash. */
export const OUTBOX_FILE_HEADER = 'Guardkit-Outbox-File';

type Source = Settings['ingest']['outboxSources'][number];

/** How many files are read ahead of the one being published. */
const READ_AHEAD = 32;

type Prepared =
  | { kind: 'gone' }
  | { kind: 'refused'; reason: string; problems: string[] }
  | { kind: 'read'; hash: string; content: string; truncated: boolean };

/**
 * SPEC 3.2: drains `<runtime>/outbox/` of each source in order (timestamp read as s/ms/µs/ns, then name).
 * A file is published with a Nats-Msg-Id, and moved to `processed/` (or deleted) only after the stream
 * acknowledged it. Files are handled one at a time per source, so after a crash at most one file can be on the
 * stream and still in the folder: it is the last message of its subject, and the header on that message
 * (file name and content hash) tells the restarted ingestor to move it without publishing it again.
 * Refused files go to `rejected/` with a `.reason.json` beside them and a `guardkit.ingest.rejected` event.
 */
@Injectable()
export class OutboxIngestor {
  private readonly logger = new Logger(OutboxIngestor.name);
  private readonly drains = new CoalescingRunner(
    (source) => this.drain(source),
    (source, error) =>
      this.logger.error(
        { err: error, source },
        'draining the outbox failed; will retry at the next change or scan',
      ),
  );
  /** Subjects whose last message was compared with the first file after start (the crash check). */
  private readonly checked = new Set<string>();
  /** Files published whose move failed: moved again, never published again. */
  private readonly publishedNotMoved = new Map<string, string>();
  private readonly blocked = new Set<string>();

  constructor(
    private readonly bus: Bus,
    private readonly publisher: EventPublisher,
    private readonly rejections: RejectionPublisher,
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
    // Reading has no side effects, so files are read ahead; publishing and moving stay one file at a time, in
    // order, so that a crash leaves at most one file both on the stream and in the folder.
    const prepared = files.map(() => undefined as Promise<Prepared> | undefined);
    const prepare = (i: number) => {
      const file = files[i];
      if (file && !prepared[i]) prepared[i] = this.prepare(dir, file);
    };
    for (let i = 0; i < files.length; i++) {
      for (let ahead = i; ahead < i + READ_AHEAD; ahead++) prepare(ahead);
      const ready = await prepared[i]!;
      prepared[i] = undefined;
      await this.commit(source, dir, files[i], ready);
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

  /** Reads and checks one file (no side effects). */
  private async prepare(dir: string, file: OutboxFileName): Promise<Prepared> {
    const path = join(dir, file.name);
    const stats = await lstat(path).catch(() => undefined);
    if (!stats) return { kind: 'gone' };
    if (!stats.isFile())
      return {
        kind: 'refused',
        reason: 'not a regular file',
        problems: [`${file.name} is a folder, link or device`],
      };
    if (stats.size > MAX_OUTBOX_FILE_BYTES) {
      return {
        kind: 'refused',
        reason: 'file too large',
        problems: [`${stats.size} bytes; at most ${MAX_OUTBOX_FILE_BYTES}`],
      };
    }
    const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!bytes) return { kind: 'gone' };
    const hash = createHash('sha256').update(bytes).digest('hex');
    return { kind: 'read', hash, ...decodeOutboxContent(bytes, this.settings.ingest.outboxMaxChars) };
  }

  /** Publishes one prepared file (unless it already was) and moves it on; or refuses it. */
  private async commit(source: Source, dir: string, file: OutboxFileName, ready: Prepared): Promise<void> {
    const path = join(dir, file.name);
    switch (ready.kind) {
      case 'gone':
        return; // vanished between the listing and the read
      case 'refused':
        await this.reject(source, dir, file.name, ready.reason, ready.problems);
        return;
      case 'read':
        break;
    }
    const marker = `${file.name}:${ready.hash}`;
    if (this.publishedNotMoved.get(path) === marker) {
      await this.finish(dir, file.name, path);
      return;
    }
    if (ready.content === '') {
      this.logger.log({ source: source.name, file: file.name }, 'empty outbox file: nothing to publish');
      await this.finish(dir, file.name, path);
      return;
    }
    const subject = this.bus.subjects.outbox(source.name, file.role);
    if (!this.checked.has(subject)) {
      const last = await this.bus.jsm.direct.getMessage(this.bus.subjects.streamName('outbox'), {
        last_by_subj: subject,
      });
      this.checked.add(subject);
      if (last?.header.get(OUTBOX_FILE_HEADER) === marker) {
        this.logger.warn(
          { source: source.name, file: file.name },
          'outbox file was published before a restart; moving it on',
        );
        await this.finish(dir, file.name, path);
        return;
      }
    }
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
    await this.publisher.publish(
      subject,
      createEnvelope({
        message_id: messageId,
        source_id: INGESTOR_SOURCE_ID,
        event_type: 'outbox_message',
        payload,
      }),
      { msgId: messageId, headers: { [OUTBOX_FILE_HEADER]: marker } },
    );
    this.publishedNotMoved.set(path, marker);
    await this.finish(dir, file.name, path);
  }

  /** After the acknowledgement: into processed/ (a clash gets a suffix), or deleted. */
  private async finish(dir: string, name: string, path: string): Promise<void> {
    if (this.settings.ingest.outboxAfterIngest === 'delete') await rm(path, { force: true });
    else await rename(path, await freeName(join(dir, 'processed'), name));
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
    const target = await freeName(rejected, name);
    await rename(join(dir, name), target);
    await writeFile(
      `${target}.reason.json`,
      `${JSON.stringify({ file: name, source: source.name, reason, problems, rejected_at: new Date().toISOString() }, null, 2)}\n`,
    );
    await this.rejections.reject({ bridge: 'outbox', path: join(dir, name), reason, problems });
  }
}

/** `name` in `dir`, or `stem-1.ext`, `stem-2.ext`… if taken. */
export async function freeName(dir: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem}-${n}${ext}`);
    if (!(await lstat(candidate).catch(() => undefined))) return candidate;
  }
}
