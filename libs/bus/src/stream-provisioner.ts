import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  JetStreamApiCodes,
  JetStreamApiError,
  type StreamConfig,
} from '@nats-io/jetstream';
import { NoRespondersError, RequestError, nanos } from '@nats-io/nats-core';
import { STREAM_ROLES, StreamProvisioningError, type StreamRole } from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { Bus } from './bus.js';
import { describeJetStreamError, isClusterNotReady } from './jetstream-readiness.js';

/**
 * JetStream API errors that a cluster gives while it places a stream, or that a concurrent start causes
 * (besides a cluster without a meta leader); anything else (a replica count a single server cannot hold,
 * say) is final.
 */
const PROVISIONING_TRANSIENT_CODES = new Set([
  10005, // no suitable peers for placement (members still joining)
  10007, // cluster not assigned
  10023, // insufficient resources (a member not yet reporting its storage)
  10058, // stream name already in use: another service created it a moment ago
]);

/**
 * Creates or updates the streams of SPEC 2 on start, idempotently, from the settings.
 *
 * Several services provision the same streams at the same moment, and a cluster may still be electing its
 * leaders: each stream is retried with backoff on timeouts and "not ready" answers until
 * STREAM_PROVISION_TIMEOUT_MS, and a stream already as configured is left alone (in a cluster every update
 * is a proposal its members must agree on).
 */
@Injectable()
export class StreamProvisioner implements OnModuleInit {
  private readonly logger = new Logger(StreamProvisioner.name);

  constructor(
    private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.ensureAll();
  }

  /** Every stream, created or updated (also when a running service finds a stream missing). */
  async ensureAll(): Promise<void> {
    for (const role of STREAM_ROLES) await this.ensureWithRetry(role);
  }

  private async ensureWithRetry(role: StreamRole): Promise<void> {
    const started = Date.now();
    const deadline = started + this.settings.streams.provisionTimeoutMs;
    const name = this.bus.subjects.streamName(role);
    for (let attempt = 1, delayMs = 100; ; attempt++) {
      try {
        await this.ensure(role);
        if (attempt > 1) {
          this.logger.log(
            { stream: name, attempts: attempt, ms: Date.now() - started },
            'stream provisioned',
          );
        }
        return;
      } catch (error) {
        const transient = isTransient(error);
        if (!transient || Date.now() >= deadline) {
          throw new StreamProvisioningError(
            `cannot create or update stream ${name}${transient ? ` after ${attempt} attempts in ${((Date.now() - started) / 1000).toFixed(1)} s (STREAM_PROVISION_TIMEOUT_MS)` : ''}: ` +
              `${describeJetStreamError(error)}; ${await this.clusterState()}`,
            { cause: error },
          );
        }
        if (attempt === 1 || attempt % 10 === 0) {
          this.logger.warn(
            { stream: name, attempt, reason: describeJetStreamError(error) },
            'JetStream is not ready for the stream yet; trying again',
          );
        }
        // jitter: the services that collided do not collide again; the last try comes at the deadline
        await sleep(Math.min(delayMs * (0.5 + Math.random()), Math.max(deadline - Date.now(), 0)));
        delayMs = Math.min(delayMs * 2, 2000);
      }
    }
  }

  /** What an operator needs to tell a cluster still forming from one that cannot hold the streams. */
  private async clusterState(): Promise<string> {
    const info = this.bus.nc.info;
    const server = info
      ? `${info.server_name}${info.cluster ? ` of cluster ${info.cluster}` : ' (not clustered)'}`
      : 'none';
    const jetstream = await this.bus.jsm
      .getAccountInfo()
      .then((account) => `JetStream answers (${account.streams} streams)`)
      .catch((error: unknown) => `JetStream does not answer (${describeJetStreamError(error)})`);
    return `connected to ${server}; ${jetstream}; STREAM_REPLICAS=${this.settings.streams.replicas} needs that many JetStream servers in one cluster`;
  }

  streamConfig(role: StreamRole): Partial<StreamConfig> & { name: string } {
    const s = this.settings.streams;
    if (role === 'logs') {
      // Output lines: many, worth less with age; bounded by age, size and lines per build (SPEC 6.3).
      return {
        ...this.common(role),
        max_age: nanos(s.logs.maxAgeSeconds * 1000),
        max_msgs_per_subject: s.logs.maxLinesPerBuild,
        max_bytes: s.logs.maxBytes,
      };
    }
    return {
      ...this.common(role),
      max_age: nanos(s.maxAgeSeconds * 1000),
      // The outbox subject is per source and role, so a per-subject cap would bound the whole backlog of a
      // source and drop messages the orchestrator has not stored yet: it is bounded by age and size instead.
      max_msgs_per_subject: role === 'outbox' ? -1 : s.maxMsgsPerSubject,
      max_bytes: role === 'outbox' ? s.outboxMaxBytes : -1,
    };
  }

  /** What every stream shares. */
  private common(role: StreamRole): Partial<StreamConfig> & { name: string } {
    const s = this.settings.streams;
    return {
      name: this.bus.subjects.streamName(role),
      subjects: this.bus.subjects.streamSubjects(role),
      retention: RetentionPolicy.Limits,
      storage: s.storage === 'memory' ? StorageType.Memory : StorageType.File,
      duplicate_window: nanos(s.duplicateWindowSeconds * 1000),
      num_replicas: s.replicas,
      discard: DiscardPolicy.Old,
      allow_direct: true,
    };
  }

  private async ensure(role: StreamRole): Promise<void> {
    const config = this.streamConfig(role);
    const existing = await this.bus.jsm.streams.info(config.name).catch((error: unknown) => {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)
        return undefined;
      throw error;
    });
    if (!existing) {
      await this.bus.jsm.streams.add(config);
      this.logger.log({ stream: config.name, subjects: config.subjects }, 'stream created');
      return;
    }
    const { storage, retention, ...changeable } = config;
    const current = existing.config as unknown as Record<string, unknown>;
    if (existing.config.storage !== storage || existing.config.retention !== retention) {
      // JetStream cannot change these in place: say so at every start rather than run as if it had
      this.logger.error(
        {
          stream: config.name,
          storage: { stream: existing.config.storage, wanted: storage },
          retention: { stream: existing.config.retention, wanted: retention },
        },
        `stream ${config.name} keeps its ${existing.config.storage} storage: STREAM_STORAGE=${this.settings.streams.storage} ` +
          'cannot be applied to an existing stream; back it up and recreate it to change it (docs/operations.md)',
      );
    }
    if (Object.entries(changeable).every(([key, value]) => isDeepStrictEqual(current[key], value))) {
      this.logger.log({ stream: config.name }, 'stream up to date');
      return;
    }
    await this.bus.jsm.streams.update(config.name, changeable);
    this.logger.log({ stream: config.name }, 'stream updated');
  }
}

function isTransient(error: unknown): boolean {
  if (isClusterNotReady(error)) return true;
  if (error instanceof JetStreamApiError) return PROVISIONING_TRANSIENT_CODES.has(error.code);
  // no responder yet
  return error instanceof NoRespondersError || error instanceof RequestError;
}
