import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ServiceMetrics, UnscrapedCounts } from '#health';

/** What the SSE hub shows the metrics, read at each scrape. */
export interface SseGauges {
  /** What waits for each open connection. */
  lags(): Iterable<{ events: number; bytes: number; oldestMs: number }>;
  live(): { stream: string; flowing: boolean }[];
}

/** The gateway's SSE metrics, on a registry of their own that the service's `/metrics` includes. */
@Injectable()
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly sseClients = new Gauge({
    name: 'guardkit_sse_clients',
    help: 'Open SSE connections, by stream',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  /** Events written, counted per connection and added to the counter at scrape (UnscrapedCounts says why). */
  private readonly sent = new UnscrapedCounts();
  readonly sseEvents: Counter = new Counter({
    name: 'guardkit_sse_events_total',
    help: 'Events written to SSE clients, by stream and event type',
    labelNames: ['stream', 'event'],
    registers: [this.registry],
    collect: () => this.sent.drain((stream, event, count) => this.sseEvents.inc({ stream, event }, count)),
  });
  readonly sseClosed = new Counter({
    name: 'guardkit_sse_closed_total',
    help: 'SSE connections closed, by reason (client, done, overflow, error)',
    labelNames: ['stream', 'reason'],
    registers: [this.registry],
  });

  readonly sseConflated = new Counter({
    name: 'guardkit_sse_conflated_total',
    help: 'Status events a slow client never got because a newer status of the same entity superseded them',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  private sse?: SseGauges;
  // Per-connection lag as distributions sampled at each scrape: a label per client would not scale.
  readonly sseLagEvents = this.lagHistogram(
    'guardkit_sse_client_lag_events',
    'Events waiting for each open SSE connection, sampled at scrape',
    [0, 1, 10, 100, 1000, 10_000],
    (lag) => lag.events,
  );
  readonly sseLagBytes = this.lagHistogram(
    'guardkit_sse_client_lag_bytes',
    'Bytes waiting for each open SSE connection, sampled at scrape',
    [0, 1024, 65_536, 1_048_576, 16_777_216],
    (lag) => lag.bytes,
  );
  readonly sseLagSeconds = this.lagHistogram(
    'guardkit_sse_client_lag_seconds',
    'Age of the oldest event waiting for each open SSE connection, sampled at scrape',
    [0, 0.1, 1, 2, 5, 30],
    (lag) => lag.oldestMs / 1000,
  );
  readonly sseLive = new Gauge({
    name: 'guardkit_sse_live',
    help: "1 when the gateway's live reader of the stream delivers, 0 while it is down or recovering",
    labelNames: ['stream'],
    registers: [this.registry],
    collect: () => {
      for (const { stream, flowing } of this.sse?.live() ?? []) this.sseLive.set({ stream }, flowing ? 1 : 0);
    },
  });

  constructor(service: ServiceMetrics) {
    service.include(this.registry);
  }

  countSent(stream: string, event: string): void {
    this.sent.add(stream, event);
  }

  watchSse(gauges: SseGauges): void {
    this.sse = gauges;
  }

  private lagHistogram(
    name: string,
    help: string,
    buckets: number[],
    value: (lag: { events: number; bytes: number; oldestMs: number }) => number,
  ): Histogram {
    const histogram: Histogram = new Histogram({
      name,
      help,
      buckets,
      registers: [this.registry],
      collect: () => {
        histogram.reset();
        for (const lag of this.sse?.lags() ?? []) histogram.observe(value(lag));
      },
    });
    return histogram;
  }
}
