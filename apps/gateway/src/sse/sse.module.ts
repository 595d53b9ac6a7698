import { Module } from '@nestjs/common';
import { GatewayMetrics } from '../metrics/metrics.js';
import { SseHub } from './sse-hub.js';

/** The SSE edge and the gateway's metrics, shared by the controllers and the readiness check. */
@Module({
  providers: [SseHub, GatewayMetrics],
  exports: [SseHub, GatewayMetrics],
})
export class SseModule {}
