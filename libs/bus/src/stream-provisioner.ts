import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  JetStreamApiCodes,
  JetStreamApiError,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { STREAM_ROLES, type StreamRole } from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { Bus } from './bus.js';

/** Creates or updates the streams of SPEC 2 on start, idempotently, from the settings. */
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
    for (const role of STREAM_ROLES) await this.ensure(role);
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
    await this.bus.jsm.streams.update(config.name, changeable);
    this.logger.log({ stream: config.name }, 'stream up to date');
  }
}
