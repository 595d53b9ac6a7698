import { Access } from '#platform';
import { grantsOf } from '../access/access.guard.js';
import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  assertSafeId,
  createEnvelope,
  GuardkitError,
  ListOutboxQuery,
  OUTBOX_MAX_CHARS,
  type OutboxMessagePayload,
  type OutboxMessageView,
  outboxRole,
} from '#contracts';
import { Bus, EventPublisher, RpcClient } from '#bus';
import { lastEventIdOf } from '../builds/builds.controller.js';
import { SseHub } from '../sse/sse-hub.js';
import { ALL_KEYS } from '../sse/stream-tail.js';
import { ApiBody, ApiProduces, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';

/** Messages posted over HTTP are published as this source. */
export const API_SOURCE = 'api';

/** AutoAppDev's `POST /api/outbox` errors, with its own codes: `{error: "empty"}` and the like, as 400. */
export class OutboxPostError extends GuardkitError {
  constructor(
    readonly code: 'invalid_body' | 'empty' | 'too_long',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The body of `POST /api/outbox`, for the OpenAPI document. It is checked by hand, not by the validation pipe,
 * to answer with AutoAppDev's own error codes.
 */
export class PostOutboxMessageDto {
  @ApiProperty({ description: 'the message (1 to OUTBOX_MAX_CHARS characters after trimming)' })
  content: string;
  @ApiPropertyOptional({ enum: ['pipeline', 'system'], default: 'pipeline' }) role?: string;
}

/**
 * AutoAppDev-compatible outbox API (its `docs/api-contracts.md`): the same JSON shapes, limits and error bodies,
 * plus `source` on each message. A POST goes through the bus like a file does, and is stored by the orchestrator.
 */
@Controller()
@ApiTags('outbox')
export class OutboxController {
  constructor(
    private readonly bus: Bus,
    private readonly rpc: RpcClient,
    private readonly publisher: EventPublisher,
    private readonly sse: SseHub,
  ) {}

  @Access.token()
  @Get('api/outbox')
  @ApiDoc('AutoAppDev-compatible: the newest N outbox messages, oldest first', {
    400: 'a bad limit or source',
    503: UNAVAILABLE,
  })
  async list(
    @Query() query: ListOutboxQuery,
    @Req() req: Request,
  ): Promise<{ messages: OutboxMessageView[] }> {
    const grants = grantsOf(req);
    if (query.source !== undefined) grants.require(grants.canUseOutbox(query.source), 'this outbox source');
    const answer = await this.rpc.call<{ messages: OutboxMessageView[] }>('outbox.list', query);
    // SPEC 4.3: only the sources the token may read
    return { messages: answer.messages.filter((m) => grants.canUseOutbox(m.source)) };
  }

  @Access.outbox('source', API_SOURCE)
  @Post('api/outbox')
  @ApiDoc('AutoAppDev-compatible: post a message to the outbox (as source `api`)', {
    400: "AutoAppDev's codes: `invalid_body`, `empty`, `too_long`",
    503: 'NATS is away',
  })
  @ApiBody({ type: PostOutboxMessageDto })
  @HttpCode(200)
  async post(@Body() body: unknown): Promise<{ ok: true }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new OutboxPostError('invalid_body', 'the body must be a JSON object: {"role"?, "content"}');
    }
    const fields = body as Record<string, unknown>;
    const raw = fields['content'];
    if (typeof raw === 'object' && raw !== null)
      throw new OutboxPostError('invalid_body', 'content must be text');
    const content = (
      typeof raw === 'string' || typeof raw === 'number' || raw === true ? String(raw) : ''
    ).trim();
    if (content === '') throw new OutboxPostError('empty', 'content is empty');
    if ([...content].length > OUTBOX_MAX_CHARS) {
      throw new OutboxPostError('too_long', `content is longer than ${OUTBOX_MAX_CHARS} characters`);
    }
    const payload: OutboxMessagePayload = {
      source: API_SOURCE,
      role: outboxRole(fields['role']),
      content,
      truncated: false,
    };
    const envelope = createEnvelope({ source_id: 'guardkit-gateway', event_type: 'outbox_message', payload });
    await this.publisher.publish(this.bus.subjects.outbox(API_SOURCE, payload.role), envelope, {
      msgId: envelope.message_id,
    });
    return { ok: true };
  }

  /**
   * SSE of outbox messages (SPEC 4.2 semantics): the latest message, then live; with Last-Event-ID every
   * message after it, or `event: reset` with the latest if they are gone. `?source=` narrows to one source.
   * Messages are never conflated: each one is distinct.
   */
  @Access.token()
  @Get('outbox/events')
  @ApiDoc('SSE: outbox messages, every source or one; resumable with Last-Event-ID', {
    400: 'an invalid source or Last-Event-ID',
  })
  @ApiQuery({
    name: 'source',
    required: false,
    description: 'one outbox source (default: all)',
    example: 'local',
  })
  @ApiProduces('text/event-stream')
  async events(@Query('source') source: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    const grants = grantsOf(req);
    let keys: typeof ALL_KEYS | string[];
    if (typeof source === 'string' && source !== '') {
      keys = [assertSafeId('outbox source', source)];
      grants.require(grants.canUseOutbox(source), 'this outbox source');
    } else {
      // SPEC 4.3: every source the token may read; sources granted by prefix must be named (?source=)
      const sources = grants.outboxSources();
      grants.require(sources !== undefined && sources.length > 0, 'every outbox source (name one: ?source=)');
      keys = sources === 'all' || sources === undefined ? ALL_KEYS : sources;
    }
    await this.sse.outbox.serve(keys, lastEventIdOf(req), res);
  }
}
