import { Controller, Get, Header, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { ApiTags } from '@nestjs/swagger';

/** The gateway's Prometheus metrics, on a registry of its own (several gateways may share a process in tests). */
@Injectable()
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly sseClients = new Gauge({
    name: 'guardkit_sse_clients',
    help: 'Open SSE connections, by stream',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  readonly sseEvents = new Counter({
    name: 'guardkit_sse_events_total',
    help: 'Events written to SSE clients, by stream and event type',
    labelNames: ['stream', 'event'],
    registers: [this.registry],
  });
  readonly sseClosed = new Counter({
    name: 'guardkit_sse_closed_total',
    help: 'SSE connections closed, by reason (client, done, overflow, error)',
    labelNames: ['stream', 'reason'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'guardkit_gateway_' });
  }
}

@Controller()
@ApiTags('metrics')
export class MetricsController {
  constructor(private readonly metrics: GatewayMetrics) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
