import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { execFile } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { readStoredMessage } from '#bus';
import { createEnvelope, Subjects } from '#contracts';
import { loadSettings, type Settings } from '#platform';
import { progressUpdate } from './progress.js';
import { resolveServices, type ServiceUrls } from './services.js';

/**
 * One test's world: its own bus namespace (so its streams and subjects are its own), its own PostgreSQL
 * database, its own BullMQ key prefix in Redis, its own tmux server, and its own folder for files.
 * `cleanup()` removes them all.
 */
export class TestEnv {
  private natsConnection?: NatsConnection;
  private manager?: JetStreamManager;
  private removal?: Promise<void>;

  private constructor(
    readonly urls: ServiceUrls,
    readonly namespace: string,
    readonly databaseName: string,
    readonly root: string,
    readonly vars: Record<string, string>,
  ) {}

  static async create(overrides: Record<string, string> = {}): Promise<TestEnv> {
    const urls = await resolveServices();
    const id = randomBytes(5).toString('hex');
    const namespace = `t${id}`;
    const databaseName = `guardkit_test_${id}`;
    const root = await mkdtemp(join(tmpdir(), 'guardkit-test-'));
    const database = new URL(urls.databaseUrl);
    database.pathname = `/${databaseName}`;
    const vars: Record<string, string> = {
      NATS_URL: urls.natsUrl,
      REDIS_URL: urls.redisUrl,
      DATABASE_URL: database.toString(),
      BUS_NAMESPACE: namespace,
      GUARDKIT_PROGRESS_ROOTS: root,
      AUTOAPPDEV_RUNTIME_DIR: join(root, 'runtime'),
      PIPELINE_WORKSPACE_ROOTS: root,
      GATEWAY_PORT: '0',
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
      LOG_FORMAT: 'json',
      INGEST_SCAN_INTERVAL_MS: '1000',
      STREAM_STORAGE: 'memory',
      OUTBOX_STREAM_MAX_BYTES: String(64 * 1024 * 1024),
      QUEUE_PREFIX: namespace,
      TMUX_SOCKET: `guardkit-${namespace}`,
      ...overrides,
    };
    return new TestEnv(urls, namespace, databaseName, root, vars);
  }

  get settings(): Settings {
    return loadSettings(this.vars, this.root);
  }

  get subjects(): Subjects {
    return new Subjects(this.namespace);
  }

  /** The variables to give a child process that runs a service in this world. */
  processEnv(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.vars };
  }

  async nats(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
    this.natsConnection ??= await connect({
      servers: (this.vars['NATS_URL'] ?? this.urls.natsUrl).split(','),
    });
    this.manager ??= await jetstreamManager(this.natsConnection);
    return { nc: this.natsConnection, jsm: this.manager };
  }

  /** The sequence numbers and payloads stored on one subject, oldest first. */
  async storedOn(
    subject: string,
    stream = this.subjects.streamName('builds'),
  ): Promise<{ seq: number; data: string }[]> {
    const { jsm } = await this.nats();
    const out: { seq: number; data: string }[] = [];
    for (let seq = 0; ;) {
      const msg = await readStoredMessage(jsm, stream, { next_by_subj: subject, seq: seq + 1 });
      if (!msg) return out;
      out.push({ seq: msg.seq, data: msg.string() });
      seq = msg.seq;
    }
  }

  /**
   * Publishes a build status envelope straight onto the stream, as a producer other than the ingestor would;
   * returns its stream sequence.
   */
  async publishStatus(
    buildId: string,
    turn: number,
    overrides: Record<string, unknown> = {},
  ): Promise<number> {
    const { nc } = await this.nats();
    const payload = {
      ...progressUpdate(turn),
      build_id: buildId,
      task_id: buildId,
      started_at: '2026-11-24T10:00:00Z',
      updated_at: `2026-11-24T10:${String(turn % 60).padStart(2, '0')}:00Z`,
      progress_pct: turn,
      ...overrides,
    };
    const envelope = createEnvelope({ source_id: 'test', event_type: 'build_progress', payload });
    return (await jetstream(nc).publish(this.subjects.buildStatus(buildId), JSON.stringify(envelope))).seq;
  }

  /**
   * Publishes outbox messages `message <from>` … `message <from + count - 1>` of source `local`, role
   * `pipeline`, straight onto the stream (each with its message id), one after the other.
   */
  async publishOutbox(from: number, count: number): Promise<void> {
    const { nc } = await this.nats();
    const js = jetstream(nc);
    for (let n = from; n < from + count; n++) {
      const envelope = createEnvelope({
        source_id: 'test',
        event_type: 'outbox_message',
        payload: { source: 'local', role: 'pipeline', content: `message ${n}`, truncated: false },
      });
      await js.publish(this.subjects.outbox('local', 'pipeline'), JSON.stringify(envelope), {
        msgID: envelope.message_id,
      });
    }
  }

  get tmuxSocket(): string {
    return this.vars['TMUX_SOCKET'] ?? '';
  }

  /** Removes every BullMQ key under this test's prefix. */
  async dropQueues(): Promise<void> {
    const redis = new Redis(this.vars['REDIS_URL'] ?? '', { maxRetriesPerRequest: 1 });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${this.vars['QUEUE_PREFIX']}:*`,
          'COUNT',
          1000,
        );
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.vars['DATABASE_URL'] });
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** Drops this test's database (closing its connections first). */
  async dropDatabase(): Promise<void> {
    const admin = new pg.Client({ connectionString: this.urls.databaseUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(this.databaseName)} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }

  /**
   * Closes the given apps, then removes this environment's streams, database, queues, tmux server and folder.
   * The removal runs once however often and however concurrently this is called: an interrupted benchmark calls
   * it from its signal handler while its own `finally` does too, and the second deleting the same streams failed.
   */
  async cleanup(...apps: (INestApplicationContext | NestExpressApplication | undefined)[]): Promise<void> {
    for (const app of apps) await app?.close();
    await (this.removal ??= this.removeAll());
  }

  private async removeAll(): Promise<void> {
    const { jsm, nc } = await this.nats();
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${this.namespace}_`)) await jsm.streams.delete(name);
    }
    await nc.drain();
    await this.dropDatabase();
    await this.dropQueues();
    await new Promise((resolve) => execFile('tmux', ['-L', this.tmuxSocket, 'kill-server'], resolve));
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
