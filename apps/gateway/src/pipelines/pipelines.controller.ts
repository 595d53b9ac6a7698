import { Access } from '#platform';
import { randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import {
  assertSafeId,
  CreatePipelineDto,
  ListPipelinesQuery,
  PIPELINE_COMMANDS,
  type PipelineCommand,
  type PipelineCreated,
  type PipelineView,
  ValidationError,
} from '#contracts';
import { RpcClient } from '#bus';
import { lastEventIdOf } from '../builds/builds.controller.js';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';
import { SseHub } from '../sse/sse-hub.js';

/** SPEC 6.1 runs over HTTP; the orchestrator runs them, over `guardkit.rpc.pipelines.*`. A run is also a build. */
@Controller()
@ApiTags('pipelines')
export class PipelinesController {
  constructor(
    private readonly rpc: RpcClient,
    private readonly sse: SseHub,
  ) {}

  /** 202: the run is queued; its progress is on `/builds/:id/events` and its output on `/builds/:id/logs`. */
  @Access.run()
  @Post('pipelines')
  @ApiDoc('Run an AAPS v1 pipeline (a script or an IR) in a working folder', {
    400: 'a script or IR that does not parse or cannot run (INVALID_PIPELINE, naming the line or task), a cwd outside PIPELINE_WORKSPACE_ROOTS, a bad env',
    503: UNAVAILABLE,
  })
  @ApiBody({ type: CreatePipelineDto })
  @HttpCode(202)
  create(@Body() dto: CreatePipelineDto): Promise<PipelineCreated> {
    return this.rpc.call('pipelines.create', { ...dto, request_id: dto.request_id ?? randomUUID() }, 2);
  }

  @Access.run()
  @Get('pipelines')
  @ApiDoc('Pipeline runs, newest first', { 400: 'a bad state or limit', 503: UNAVAILABLE })
  list(@Query() query: ListPipelinesQuery): Promise<{ items: PipelineView[] }> {
    return this.rpc.call('pipelines.list', query);
  }

  @Access.run()
  @Get('pipelines/:id')
  @ApiDoc('A pipeline run: its state, where it stands, how it failed', {
    400: 'an invalid run id',
    404: 'no such run',
    503: UNAVAILABLE,
  })
  get(@Param('id') id: string): Promise<PipelineView> {
    return this.rpc.call('pipelines.get', { run_id: assertSafeId('run id', id) });
  }

  /** pause (between actions), resume, cancel (ends the running action's process group), retry (from the failed task). */
  @Access.run()
  @Post('pipelines/:id/:command')
  @ApiDoc('Pause, resume, cancel or retry a run', {
    400: 'an invalid run id or command',
    404: 'no such run',
    409: 'the run is in a state the command is not for (INVALID_TRANSITION)',
    503: UNAVAILABLE,
  })
  @ApiParam({ name: 'command', enum: Object.keys(PIPELINE_COMMANDS) })
  @HttpCode(202)
  command(@Param('id') id: string, @Param('command') command: string): Promise<PipelineView> {
    if (!Object.hasOwn(PIPELINE_COMMANDS, command)) {
      throw new ValidationError(
        `unknown command ${JSON.stringify(command)}: pause, resume, cancel or retry`,
        ['command'],
      );
    }
    return this.rpc.call('pipelines.command', {
      run_id: assertSafeId('run id', id),
      command: command as PipelineCommand,
    });
  }

  /** SSE of a build's output lines: every line kept, then live; resumable with Last-Event-ID (SPEC 4.2). */
  @Access.build()
  @Get('builds/:id/logs')
  @ApiDoc("SSE: a build's output lines (every line kept, then live), resumable with Last-Event-ID", {
    400: 'an invalid build id or Last-Event-ID',
  })
  @ApiProduces('text/event-stream')
  async logs(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.sse.logs.serve([assertSafeId('build id', id)], lastEventIdOf(req), res);
  }
}
