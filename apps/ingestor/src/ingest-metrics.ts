import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import { ServiceMetrics } from '#health';

export type Bridge = 'progress' | 'outbox';

/**
 * The ingestor's metrics: files taken by result, and the lag from a file's last write to its publish being
 * acknowledged by NATS.
 */
@Injectable()
export class IngestMetrics {
  private readonly registry = new Registry();
  private readonly files = new Counter({
    name: 'guardkit_ingest_files_total',
    help: 'Files the ingestor took, by bridge and result (published, unchanged, rejected, empty)',
    labelNames: ['bridge', 'result'],
    registers: [this.registry],
  });
  private readonly lag = new Histogram({
    name: 'guardkit_ingest_lag_seconds',
    help: "From a file's last write to its publish acknowledged by NATS, by bridge",
    labelNames: ['bridge'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
    registers: [this.registry],
  });

  constructor(private readonly metrics: ServiceMetrics) {
    metrics.include(this.registry);
  }

  taken(bridge: Bridge, result: 'published' | 'unchanged' | 'rejected' | 'empty'): void {
    this.files.inc({ bridge, result });
  }

  /** A file published; `writtenAtMs` is its modification time. */
  published(bridge: Bridge, writtenAtMs: number): void {
    this.taken(bridge, 'published');
    this.metrics.eventsHandled(bridge);
    this.lag.observe({ bridge }, Math.max(0, (Date.now() - writtenAtMs) / 1000));
  }
}
