import { type DynamicModule, Module } from '@nestjs/common';
import { BusModule } from '#bus';
import { HealthModule, MetricsModule, startHeadless } from '#health';
import { PlatformModule, type Settings } from '#platform';
import { OutboxIngestor } from './outbox/outbox-ingestor.js';
import { OutboxWatcher } from './outbox/outbox-watcher.js';
import { ProgressIngestor } from './progress/progress-ingestor.js';
import { ProgressWatcher } from './progress/progress-watcher.js';
import { IngestMetrics } from './ingest-metrics.js';
import { RejectionPublisher } from './rejections.js';

@Module({})
export class IngestorModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: IngestorModule,
      imports: [
        PlatformModule.forRoot(settings, 'ingestor'),
        BusModule.forRoot('ingestor'),
        MetricsModule.forRoot('ingestor'),
        HealthModule.forRoot(),
      ],
      providers: [
        IngestMetrics,
        RejectionPublisher,
        ProgressIngestor,
        ProgressWatcher,
        OutboxIngestor,
        OutboxWatcher,
      ],
    };
  }
}

export async function createIngestor(settings: Settings) {
  const outbox = settings.ingest.outboxSources.map((source) => `${source.name}=${source.runtimeDir}`);
  return startHeadless(
    IngestorModule.forRoot(settings),
    settings.healthPort,
    `ingestor ready: progress.json under ${settings.ingest.progressRoots.join(', ')}; ` +
      `outbox of ${outbox.join(', ')}`,
  );
}
