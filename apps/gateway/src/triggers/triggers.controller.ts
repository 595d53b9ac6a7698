import { Access } from '#platform';
import { grantsOf } from '../access/access.guard.js';
import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  assertSafeId,
  CreateTriggerDto,
  ListTriggersQuery,
  ThreadProgressDto,
  type TriggerCreated,
  type TriggerView,
} from '#contracts';
import { RpcClient } from '#bus';
import { lastEventIdOf } from '../builds/builds.controller.js';
import { SseHub } from '../sse/sse-hub.js';
import type { StoredEvent } from '../sse/stored-event.js';
import { ALL_KEYS } from '../sse/stream-tail.js';
import { ApiBody, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';

/** SPEC 5 over HTTP; the orchestrator does the work, over `guardkit.rpc.triggers.*`. */
@Controller()
@ApiTags('triggers')
export class TriggersController {
  constructor(
    private readonly rpc: RpcClient,
    private readonly sse: SseHub,
  ) {}

  /**
   * 202: the trigger is queued; its id and the decision come back, and its progress is on the events stream.
   * The request gets an id, so a call whose answer is lost on the way back is sent again without creating
   * a second trigger.
   */
  @Access.trigger('target_agent_id')
  @Post('triggers')
  @ApiDoc('Wake an agent: queue a trigger (SPEC 5)', {
    400: 'a missing or invalid field',
    409: 'the thread is blocked as a loop (THREAD_AUTO_BLOCKED); report progress or force_override',
    413: 'the prompt is longer than TRIGGER_PAYLOAD_MAX_BYTES',
    429: 'more than 10 triggers a minute for this agent and thread',
    503: UNAVAILABLE,
  })
  @HttpCode(202)
  create(@Body() dto: CreateTriggerDto): Promise<TriggerCreated> {
    return this.rpc.call('triggers.create', { ...dto, request_id: dto.request_id ?? randomUUID() }, 2);
  }

  @Access.token()
  @Get('triggers')
  @ApiDoc('The newest triggers with their attempts, newest first (those of agents the token may wake)', {
    400: 'a bad limit',
    503: UNAVAILABLE,
  })
  async list(@Query() query: ListTriggersQuery, @Req() req: Request): Promise<TriggerView[]> {
    const grants = grantsOf(req);
    grants.require(grants.hasTriggerGrants, 'reading triggers');
    const views = await this.rpc.call<TriggerView[]>('triggers.list', query);
    return grants.canTrigger('*') ? views : views.filter((v) => grants.canTrigger(v.target_agent_id));
  }

  @Access.token()
  @Get('triggers/events')
  @ApiDoc("SSE: every trigger's state changes (of agents the token may wake); resumable with Last-Event-ID", {
    400: 'a bad Last-Event-ID',
  })
  @ApiProduces('text/event-stream')
  async allTriggerEvents(@Req() req: Request, @Res() res: Response): Promise<void> {
    const grants = grantsOf(req);
    grants.require(grants.hasTriggerGrants, 'reading triggers');
    const accept = grants.canTrigger('*')
      ? undefined
      : (event: StoredEvent) => grants.canTrigger(event.payloadField('target_agent_id') ?? '');
    await this.sse.triggers.serve(ALL_KEYS, lastEventIdOf(req), res, accept);
  }

  @Access.token()
  @Get('triggers/:id')
  @ApiDoc('A trigger, with its attempts', {
    400: 'an invalid trigger id',
    404: 'no such trigger',
    503: UNAVAILABLE,
  })
  get(@Param('id') id: string, @Req() req: Request): Promise<TriggerView> {
    return this.readable(assertSafeId('trigger id', id), req);
  }

  /**
   * SPEC 4.3: a trigger is readable with a `trigger` grant for its agent. A token for every agent is not asked
   * about the trigger (its stream is then served even while the orchestrator is away); any other is answered
   * by the trigger's own agent: 403 for another agent's, 404 for none.
   */
  private async readable(id: string, req: Request): Promise<TriggerView> {
    const grants = grantsOf(req);
    grants.require(grants.hasTriggerGrants, 'reading triggers');
    const view = await this.rpc.call<TriggerView>('triggers.get', { trigger_id: id });
    grants.require(grants.canTrigger(view.target_agent_id), 'reading this trigger');
    return view;
  }

  @Access.token()
  @Get('triggers/:id/events')
  @ApiDoc("SSE: a trigger's state changes, ending at a terminal state", {
    400: 'an invalid trigger id or Last-Event-ID',
  })
  @ApiProduces('text/event-stream')
  async triggerEvents(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const triggerId = assertSafeId('trigger id', id);
    if (!grantsOf(req).canTrigger('*')) await this.readable(triggerId, req);
    await this.sse.triggers.serve([triggerId], lastEventIdOf(req), res);
  }

  @Access.admin()
  @Post('triggers/:id/replay')
  @ApiDoc('Replay a failed trigger from the start of its chain', {
    400: 'an invalid trigger id',
    404: 'no such trigger',
    409: 'the trigger has not failed',
    503: UNAVAILABLE,
  })
  @HttpCode(202)
  replay(@Param('id') id: string): Promise<TriggerView> {
    return this.rpc.call('triggers.replay', { trigger_id: assertSafeId('trigger id', id) });
  }

  /** Drops the trigger's dead letter from `triggers-dead`; the trigger itself stays, failed. */
  @Access.admin()
  @Delete('triggers/:id/dead-letter')
  @ApiDoc("Drop a failed trigger's dead letter (the trigger stays, failed)", {
    400: 'an invalid trigger id',
    404: 'no such trigger or dead letter',
    503: UNAVAILABLE,
  })
  @HttpCode(204)
  async purge(@Param('id') id: string): Promise<void> {
    await this.rpc.call('triggers.purge', { trigger_id: assertSafeId('trigger id', id) });
  }

  /** The agent made progress on the thread: its loop guard starts over (and a blocked thread is free). */
  @Access.trigger()
  @Post('threads/:thread_id/progress')
  @ApiDoc("Report an agent's progress on a thread: its loop guard starts over", {
    400: 'an invalid thread id or body',
    503: UNAVAILABLE,
  })
  @ApiBody({ type: ThreadProgressDto })
  @HttpCode(204)
  async progress(
    @Param('thread_id') threadId: string,
    @Body() body: Partial<ThreadProgressDto>,
  ): Promise<void> {
    await this.rpc.call('threads.progress', { ...body, thread_id: assertSafeId('thread id', threadId) });
  }
}
