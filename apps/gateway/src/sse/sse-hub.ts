import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Bus } from '#bus';
import { ServiceMetrics } from '#health';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';

const STALE_SWEEP_MS = 5000;
/** How long before its token expires a stream asks its client to come back with a new one. */
const REAUTH_LEAD_MS = 5000;
import { GatewayMetrics } from '../metrics/metrics.js';
import { EventFeed, type SseHost } from './event-feed.js';
import { feedKinds } from './feed-kinds.js';
import type { AccessContext } from '../access/access.guard.js';
import { SseConnection, SseFrame, type SseLag, type SseOptions } from './sse-connection.js';

/**
 * The gateway's SSE edge: one feed per stream (builds, triggers, outbox), each with its one live tail, and
 * every open connection, for the shared heartbeat, the metrics and shutdown.
 */
@Injectable()
export class SseHub implements SseHost, OnModuleInit, OnModuleDestroy {
  readonly builds: EventFeed;
  readonly triggers: EventFeed;
  readonly outbox: EventFeed;
  readonly logs: EventFeed;
  readonly queueLimit: number;
  readonly queueBytes: number;
  private readonly connections = new Set<SseConnection>();
  private heartbeat?: NodeJS.Timeout;
  private staleSweep?: NodeJS.Timeout;
  private readonly options = new Map<string, SseOptions>();

  constructor(
    bus: Bus,
    private readonly metrics: GatewayMetrics,
    private readonly serviceMetrics: ServiceMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.queueLimit = settings.gateway.sseClientQueueLimit;
    this.queueBytes = settings.gateway.sseClientQueueBytes;
    const kinds = feedKinds(bus.subjects);
    this.builds = new EventFeed(bus, this, kinds.builds);
    this.triggers = new EventFeed(bus, this, kinds.triggers);
    this.outbox = new EventFeed(bus, this, kinds.outbox);
    this.logs = new EventFeed(bus, this, kinds.logs);
    metrics.watchSse({
      lags: () => this.lags(),
      live: () => this.feeds().map((feed) => ({ stream: feed.kind.role, flowing: feed.tail.flowing })),
    });
  }

  onModuleInit(): void {
    for (const feed of this.feeds()) feed.tail.start();
    // One timer for every connection, rather than one each.
    this.heartbeat = setInterval(() => {
      for (const sse of this.connections) sse.ping();
    }, this.settings.gateway.sseHeartbeatMs);
    // A build that stopped writing: its clients hear `event: stale` (BUILD_STALE_MINUTES), checked every 5 s.
    this.staleSweep = setInterval(
      () => this.builds.sweepStale(this.settings.buildStaleMinutes * 60_000, this.clock.now().getTime()),
      STALE_SWEEP_MS,
    );
    this.staleSweep.unref();
  }

  /** On shutdown, end every stream so the HTTP server can close; clients resume elsewhere by Last-Event-ID. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.heartbeat);
    clearInterval(this.staleSweep);
    for (const sse of this.connections) sse.end();
    await Promise.all(this.feeds().map((feed) => feed.tail.stop()));
  }

  open(res: ServerResponse, label: string): SseConnection {
    const sse = new SseConnection(res, this.optionsFor(label));
    this.endBeforeExpiry(sse, res);
    this.metrics.sseClients.inc({ stream: label });
    this.connections.add(sse);
    sse.onClose((reason) => {
      this.connections.delete(sse);
      this.metrics.sseClients.dec({ stream: label });
      this.metrics.sseClosed.inc({ stream: label, reason });
    });
    return sse;
  }

  /**
   * SPEC 4.3: a stream ends shortly before its token expires, with `event: reauth` (no id, so the client's
   * Last-Event-ID stays where it was); the client reconnects with a new token and misses nothing.
   */
  private endBeforeExpiry(sse: SseConnection, res: ServerResponse): void {
    const expiresAt = (res as ServerResponse & { req?: IncomingMessage & { access?: AccessContext } }).req
      ?.access?.expiresAt;
    if (expiresAt === undefined) return;
    const timer = setTimeout(
      () => {
        sse.send(
          new SseFrame('reauth', JSON.stringify({ expires_at: new Date(expiresAt * 1000).toISOString() })),
        );
        sse.end();
      },
      Math.max(0, expiresAt * 1000 - REAUTH_LEAD_MS - Date.now()),
    );
    timer.unref();
    sse.onClose(() => clearTimeout(timer));
  }

  /** One options object per stream label, shared by its connections. */
  private optionsFor(label: string): SseOptions {
    let options = this.options.get(label);
    if (!options) {
      options = {
        retryMs: this.settings.gateway.sseRetryMs,
        queueLimit: this.queueLimit,
        queueBytes: this.queueBytes,
        conflateAfterMs: this.settings.gateway.sseConflateAfterMs,
        onConflated: () => this.metrics.sseConflated.inc({ stream: label }),
      };
      this.options.set(label, options);
    }
    return options;
  }

  sent(label: string, event: string): void {
    this.metrics.countSent(label, event);
  }

  received(role: string): void {
    this.serviceMetrics.eventsHandled(role);
  }

  /** Streams whose live delivery does not flow now (for readiness). */
  stalled(): string[] {
    return this.feeds()
      .filter((feed) => !feed.tail.flowing)
      .map((feed) => feed.tail.stream);
  }

  private feeds(): EventFeed[] {
    return [this.builds, this.triggers, this.outbox, this.logs];
  }

  private *lags(): Iterable<SseLag> {
    const now = Date.now();
    for (const sse of this.connections) yield sse.lag(now);
  }
}
