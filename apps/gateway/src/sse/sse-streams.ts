import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Bus } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { GatewayMetrics } from '../metrics/metrics.js';
import { SseConnection } from './sse-connection.js';

/** What every SSE endpoint shares: opening a connection with the settings, metrics, and closing all on shutdown. */
@Injectable()
export class SseStreams implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SseStreams.name);
  private readonly open = new Set<SseConnection>();
  private stopping = false;

  constructor(
    private readonly bus: Bus,
    private readonly metrics: GatewayMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** Starts an SSE response; `release` runs once when it ends, for whatever reason. */
  start(res: ServerResponse, label: string, release: () => void): SseConnection {
    const sse = new SseConnection(res, {
      heartbeatMs: this.settings.gateway.sseHeartbeatMs,
      retryMs: this.settings.gateway.sseRetryMs,
      queueLimit: this.settings.gateway.sseClientQueueLimit,
      conflateAfterMs: this.settings.gateway.sseConflateAfterMs,
    });
    this.metrics.sseClients.inc({ stream: label });
    this.open.add(sse);
    sse.onClose((reason) => {
      this.open.delete(sse);
      this.metrics.sseClients.dec({ stream: label });
      this.metrics.sseClosed.inc({ stream: label, reason });
      release();
    });
    return sse;
  }

  sent(label: string, event: string): void {
    this.metrics.sseEvents.inc({ stream: label, event });
  }

  /**
   * Whether every event after `lastEventId` is still in the stream. Limits remove the oldest events first,
   * so this holds when nothing before lastEventId + 1 is gone; an id past the stream's end means the stream
   * was replaced, and the client must be reset too.
   */
  async retainedAfter(stream: string, lastEventId: number): Promise<boolean> {
    const { state } = await this.bus.jsm.streams.info(stream);
    return lastEventId <= state.last_seq && lastEventId + 1 >= state.first_seq;
  }

  /**
   * After NATS comes back, an ordered consumer notices only once it has missed two heartbeats (about 45 s
   * with nats.js defaults): every stream is ended instead, and its client resumes at once by Last-Event-ID,
   * catching up the gap from the stream.
   */
  onModuleInit(): void {
    void (async () => {
      for await (const status of this.bus.nc.status()) {
        if (this.stopping) return;
        if (status.type !== 'reconnect' || this.open.size === 0) continue;
        this.logger.warn(
          { streams: this.open.size },
          'NATS reconnected: ending open SSE streams so that their clients resume from their last event',
        );
        for (const sse of this.open) sse.end();
      }
    })();
  }

  /** On shutdown, end every stream so the HTTP server can close; clients resume elsewhere by Last-Event-ID. */
  onModuleDestroy(): void {
    this.stopping = true;
    for (const sse of this.open) sse.end();
  }
}
