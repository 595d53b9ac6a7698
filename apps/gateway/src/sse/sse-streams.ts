import type { ServerResponse } from 'node:http';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Bus } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { GatewayMetrics } from '../metrics/metrics.js';
import { SseConnection } from './sse-connection.js';

/** What every SSE endpoint shares: opening a connection with the settings, metrics, and closing all on shutdown. */
@Injectable()
export class SseStreams implements OnModuleDestroy {
  private readonly open = new Set<SseConnection>();

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

  /** On shutdown, end every stream so the HTTP server can close; clients resume elsewhere by Last-Event-ID. */
  onModuleDestroy(): void {
    for (const sse of this.open) sse.end();
  }
}
