import { Access } from '#platform';
import { Controller, type DynamicModule, Get, Header, Inject, Injectable, Module } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { UnscrapedCounts } from './unscraped-counts.js';

/** Sets a sampled gauge's values for one part: `set({projection: 'builds'}, 12)`. */
export type Sampler = (set: (labels: Record<string, string>, value: number) => void) => Promise<void> | void;

/** Injection token of the service's name, which prefixes its process metrics. */
export const SERVICE_NAME = Symbol('SERVICE_NAME');

/** How often the event loop's delay is sampled (prom-client's `eventLoopMonitoringPrecision`). */
const EVENT_LOOP_SAMPLE_MS = 50;

/**
 * A service's Prometheus registry: one per service instance (several may share a process in tests), with the
 * process metrics under `guardkit_<service>_` and HTTP RED metrics for what the service answers. Each part of
 * the service registers its own metrics here (docs/operations.md lists them all).
 */
@Injectable()
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'guardkit_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  private readonly durations = new Histogram({
    name: 'guardkit_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route (SSE streams are not timed: see guardkit_sse_*)',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** Events handled since the last scrape, by kind: added to the counter at scrape (UnscrapedCounts says why). */
  private readonly handledUnscraped = new UnscrapedCounts();
  /** The events this service handled, by kind (issue 15: what its CPU is spent on). */
  private readonly handled: Counter = new Counter({
    name: 'guardkit_events_handled_total',
    help: 'Events the service handled: files published (ingestor), events projected (orchestrator), events read from the bus for SSE clients (gateway)',
    labelNames: ['kind'],
    registers: [this.registry],
    collect: () => this.handledUnscraped.drain((kind, _, count) => this.handled.inc({ kind }, count)),
  });
  private handledSinceScrape = 0;
  private cpuAtScrape = process.cpuUsage();

  /** The registries of the service's parts, scraped together with this one. */
  private readonly parts: Registry[] = [];

  constructor(@Inject(SERVICE_NAME) service: string) {
    // the process metrics include the event loop's delay (`…_nodejs_eventloop_lag_p99_seconds` and the rest,
    // from perf_hooks.monitorEventLoopDelay). Its timer wakes the process at every sample: every 50 ms rather
    // than prom-client's 10 ms cost an idle stack about a third of its CPU less (docs/benchmarks.md), and a
    // block of the loop still shows in the delays as soon as it spans a sample.
    collectDefaultMetrics({
      register: this.registry,
      prefix: `guardkit_${service}_`,
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });
    const perEvent: Gauge = new Gauge({
      name: 'guardkit_cpu_ms_per_event',
      help: 'CPU milliseconds (user + system, all threads) per event handled, since the previous scrape; 0 when none was',
      registers: [this.registry],
      collect: () => {
        const cpu = process.cpuUsage(this.cpuAtScrape);
        const events = this.handledSinceScrape;
        this.cpuAtScrape = process.cpuUsage();
        this.handledSinceScrape = 0;
        perEvent.set(events === 0 ? 0 : (cpu.user + cpu.system) / 1000 / events);
      },
    });
  }

  /** Counts events handled (`kind`: `progress`, `outbox`, `builds`…), for `guardkit_cpu_ms_per_event`. */
  eventsHandled(kind: string, count = 1): void {
    this.handledUnscraped.add(kind, '', count);
    this.handledSinceScrape += count;
  }

  private readonly sampled = new Map<string, Sampler[]>();

  /**
   * A gauge read at each scrape from every part that samples it, each setting its own label values (the lag
   * of each projection, say). A sampler that fails (a dependency away) leaves its series out of that scrape.
   */
  sample(name: string, help: string, labelNames: string[], sampler: Sampler): void {
    let samplers = this.sampled.get(name);
    if (!samplers) {
      const all: Sampler[] = (samplers = []);
      const gauge: Gauge = new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect: async () => {
          gauge.reset();
          for (const read of all)
            await Promise.resolve(read((labels, value) => gauge.set(labels, value))).catch(() => undefined);
        },
      });
      this.sampled.set(name, samplers);
    }
    samplers.push(sampler);
  }

  /** Adds a part's own registry to what `/metrics` shows. */
  include(registry: Registry): void {
    this.parts.push(registry);
  }

  /** Every metric of the service, in the Prometheus text format. */
  scrape(): Promise<string> {
    return Registry.merge([this.registry, ...this.parts]).metrics();
  }

  /**
   * Express middleware counting every request once it is answered. The route is the matched pattern
   * (`/builds/:id`), never the raw path, so the number of series stays bounded.
   */
  readonly http = (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    res.once('finish', () => {
      const route = routeOf(req);
      this.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      const type = res.getHeader('content-type');
      if (typeof type !== 'string' || !type.startsWith('text/event-stream'))
        this.durations.observe({ method: req.method, route }, (performance.now() - started) / 1000);
    });
    next();
  };
}

function routeOf(req: Request): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof route === 'string') return `${req.baseUrl}${route}`;
  return 'unmatched';
}

@Controller()
@ApiTags('metrics')
export class MetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Access.admin()
  @Get('metrics')
  @ApiOperation({ summary: 'Prometheus metrics of this service' })
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}

/** The service's metrics registry for every module of it, and `GET /metrics`. */
@Module({})
export class MetricsModule {
  static forRoot(service: string): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      controllers: [MetricsController],
      providers: [{ provide: SERVICE_NAME, useValue: service }, ServiceMetrics],
      exports: [ServiceMetrics],
    };
  }
}
