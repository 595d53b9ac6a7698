import { NestFactory } from '@nestjs/core';
import type { DynamicModule } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { ServiceMetrics } from './service-metrics.js';

/**
 * Starts a service that has no API of its own (orchestrator, ingestor). With `healthPort` it answers
 * `/healthz` and `/readyz` there (containers and Kubernetes probe them); without, it opens no port at all.
 */
export async function startHeadless(module: DynamicModule, healthPort: number | undefined, summary?: string) {
  // abortOnError false: a provider that fails to start (no JetStream, say) reaches runService, which names it
  // in one line with its exit code, instead of Nest exiting with 1
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.use(app.get(ServiceMetrics).http);
  if (healthPort === undefined) await app.init();
  else await app.listen(healthPort, '0.0.0.0');
  // one line that says what the service does and where, once it runs
  if (summary)
    app
      .get(Logger)
      .log(
        `${summary}; probes and metrics ${healthPort === undefined ? 'off (no HEALTH_PORT)' : `on :${healthPort}`}`,
      );
  return app;
}
