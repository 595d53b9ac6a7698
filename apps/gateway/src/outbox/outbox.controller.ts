import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { DeliverPolicy, type OrderedConsumerOptions } from '@nats-io/jetstream';
import type { Request, Response } from 'express';
import {
  createEnvelope,
  GuardkitError,
  ListOutboxQuery,
  OUTBOX_MAX_CHARS,
  type OutboxMessagePayload,
  type OutboxMessageView,
  outboxRole,
} from '#contracts';
import { Bus, EventPublisher, releaseOrdered, RpcClient } from '#bus';
import { lastEventIdOf } from '../builds/builds.controller.js';
import { SseStreams } from '../sse/sse-streams.js';
import { ApiProduces, ApiTags } from '@nestjs/swagger';

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
    private readonly streams: SseStreams,
  ) {}

  @Get('api/outbox')
  list(@Query() query: ListOutboxQuery): Promise<{ messages: OutboxMessageView[] }> {
    return this.rpc.call('outbox.list', query);
  }

  @Post('api/outbox')
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
  @Get('outbox/events')
  @ApiProduces('text/event-stream')
  async events(@Query('source') source: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    const filter =
      typeof source === 'string' && source !== ''
        ? this.bus.subjects.outboxSource(source)
        : this.bus.subjects.streamSubjects('outbox')[0];
    const lastEventId = lastEventIdOf(req);
    const stream = this.bus.subjects.streamName('outbox');
    const resumable = lastEventId !== undefined && (await this.streams.retainedAfter(stream, lastEventId));
    const consumer = await this.bus.js.consumers.get(stream, {
      filter_subjects: filter,
      ...(resumable
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastEventId + 1 }
        : { deliver_policy: DeliverPolicy.Last }),
    } satisfies Partial<OrderedConsumerOptions>);
    const messages = await consumer.consume();
    const release = releaseOrdered(consumer, messages);
    const sse = this.streams.start(res, 'outbox', () => void release());
    let reset = lastEventId !== undefined && !resumable;
    for await (const msg of messages) {
      const event = reset ? 'reset' : 'outbox';
      reset = false;
      sse.send({ id: msg.seq, event, data: msg.string() });
      this.streams.sent('outbox', event);
    }
    await release();
  }
}
