import { type DynamicModule, Module, RequestMethod, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { describeValidationErrors, ValidationError } from '#contracts';
import { BusModule } from '#bus';
import { type Clock, PlatformModule, type Settings } from '#platform';
import { HealthModule, MetricsModule, READINESS_CHECKS, ServiceMetrics } from '#health';
import { HealthIndicatorService } from '@nestjs/terminus';
import { QueuesModule } from '#queues';
import { AccessGuard } from './access/access.guard.js';
import { assertSafeBinding } from './access/safe-binding.js';
import { SessionController } from './access/session.controller.js';
import { AuditController } from './access/audit.controller.js';
import { AuditInterceptor } from './access/audit.interceptor.js';
import { SESSION_COOKIE } from './access/authenticator.js';
import { AutoAppDevController } from './autoappdev/autoappdev.controller.js';
import { BoardModule } from './board/board.module.js';
import { BuildsController } from './builds/builds.controller.js';
import { DashboardController } from './dashboard/dashboard.controller.js';
import { ErrorFilter } from './http/error-filter.js';
import { RejectionsController } from './ingest/rejections.controller.js';
import { OutboxController } from './outbox/outbox.controller.js';
import { PipelinesController } from './pipelines/pipelines.controller.js';
import { WorkflowsController } from './workflows/workflows.controller.js';
import { ScriptsController } from './pipelines/scripts.controller.js';
import { SseHub } from './sse/sse-hub.js';
import { SseModule } from './sse/sse.module.js';
import { SessionsController } from './triggers/sessions.controller.js';
import { TriggersController } from './triggers/triggers.controller.js';

/** Query strings and bodies are checked against the shared DTOs; a failure is a 400 `INVALID_PAYLOAD`. */
const validationPipe = new ValidationPipe({
  transform: true,
  forbidUnknownValues: false,
  exceptionFactory: (errors) => {
    const problems = describeValidationErrors(errors);
    return new ValidationError(problems.join('; '), problems);
  },
});

/**
 * The SSE streams: a request logger (a child logger and its context) would live as long as each stream, about
 * half of what a connection costs in memory; streams are counted and timed in /metrics instead.
 */
const SSE_ROUTES = [
  'builds/:id/events',
  'builds/:id/logs',
  'events',
  'triggers/:id/events',
  'outbox/events',
].map((path) => ({
  path,
  method: RequestMethod.GET,
}));

/** Readiness past NATS: live delivery flows on every stream (the SSE streams are the gateway's main job). */
const readinessChecks = {
  provide: READINESS_CHECKS,
  inject: [SseHub, HealthIndicatorService],
  useFactory: (hub: SseHub, indicators: HealthIndicatorService) => [
    () => {
      const live = indicators.check('sse_live');
      const stalled = hub.stalled();
      return stalled.length === 0
        ? live.up()
        : live.down({ message: `live delivery is not flowing on ${stalled.join(', ')}` });
    },
  ],
};

@Module({})
export class GatewayModule {
  static forRoot(settings: Settings, clock?: Clock): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        PlatformModule.forRoot(settings, 'gateway', { unloggedRoutes: SSE_ROUTES, clock }),
        BusModule.forRoot('gateway'),
        QueuesModule.forRoot(settings),
        BoardModule.forRoot(settings),
        MetricsModule.forRoot('gateway'),
        SseModule,
        HealthModule.forRoot(readinessChecks, [SseModule]),
      ],
      controllers: [
        SessionController,
        AuditController,
        BuildsController,
        OutboxController,
        RejectionsController,
        TriggersController,
        SessionsController,
        DashboardController,
        ScriptsController,
        PipelinesController,
        WorkflowsController,
        // last: its catch-all answers the rest of AutoAppDev's /api with `not_supported`
        AutoAppDevController,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_GUARD, useClass: AccessGuard },
        { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
        { provide: APP_PIPE, useValue: validationPipe },
      ],
    };
  }
}

/** The largest JSON body accepted: room for a script of SCRIPT_MAX_CHARS characters, escaped. */
export const JSON_BODY_LIMIT = '2mb';

/** `clock`: the time `stale` is judged by (tests move it). */
export async function createGateway(settings: Settings, clock?: Clock): Promise<NestExpressApplication> {
  assertSafeBinding(settings.gateway);
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(settings, clock), {
    bufferLogs: true,
    abortOnError: false, // as startHeadless: a provider that fails to start reaches runService
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  // An AAPS script may be 200,000 characters (up to 800 kB of UTF-8), past body-parser's 100 kB default.
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  // AutoAppDev's PWA calls its backend from its own origin (its config.local.js sets API_BASE_URL)
  if (settings.gateway.corsOrigins.length > 0) {
    app.enableCors({
      origin: settings.gateway.corsOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['content-type', 'authorization', 'last-event-id'],
    });
  }
  app.use(app.get(ServiceMetrics).http);
  serveOpenApi(app);
  await app.listen(settings.gateway.port, settings.gateway.host);
  const url = await app.getUrl();
  app
    .get(Logger)
    .log(
      `guardkit-stream gateway listening: dashboard at ${url.replace('[::1]', 'localhost')}/, ` +
        'API docs at /docs, the queue board at /admin/queues, metrics at /metrics',
      'Gateway',
    );
  return app;
}

/** The OpenAPI document, from the controllers and DTOs: the UI at /docs, the JSON at /docs/openapi.json. */
export function serveOpenApi(app: NestExpressApplication): void {
  const config = new DocumentBuilder()
    .setTitle('guardkit-stream gateway')
    .setDescription(
      'Builds and outbox messages (REST and SSE), triggers that wake agents, sessions, health. Errors are ' +
        '`{error, message}`. NATS subjects are described in docs/asyncapi.yaml. With a key set (SPEC 4.3, ' +
        'docs/security.md) every request but /healthz, /readyz and / needs a bearer token (or the session ' +
        'cookie of POST /auth/session) whose `gk` claim allows it: 401 without one, 403 when not allowed.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
    .addCookieAuth(SESSION_COOKIE, { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE }, 'session')
    .addSecurityRequirements('bearer')
    .addSecurityRequirements('session')
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
}
