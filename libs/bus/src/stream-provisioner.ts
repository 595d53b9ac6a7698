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
    for (const role of STREAM_ROLES) await this.ensure(role);
  }

  streamConfig(role: StreamRole): Partial<StreamConfig> & { name: string } {
    const s = this.settings.streams;
    return {
      name: this.bus.subjects.streamName(role),
      subjects: this.bus.subjects.streamSubjects(role),
      retention: RetentionPolicy.Limits,
      storage: s.storage === 'memory' ? StorageType.Memory : StorageType.File,
      max_age: nanos(s.maxAgeSeconds * 1000),
      max_msgs_per_subject: s.maxMsgsPerSubject,
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
    const { storage: _storage, retention: _retention, ...changeable } = config;
    await this.bus.jsm.streams.update(config.name, changeable);
    this.logger.log({ stream: config.name }, 'stream up to date');
  }
}
