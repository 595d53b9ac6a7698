import { Access } from '#platform';
import { randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Res } from '@nestjs/common';
import { ApiBody, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import {
  AgentConcurrencyDto,
  type AgentRoleView,
  ARTIFACT_NAME_PATTERN,
  assertSafeId,
  CreateWorkflowDto,
  ListWorkflowsQuery,
  ValidationError,
  WORKFLOW_COMMANDS,
  type WorkflowArtifact,
  type WorkflowCommand,
  type WorkflowCreated,
  type WorkflowView,
} from '#contracts';
import { RpcClient } from '#bus';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';

/** SPEC 6.2 workflows over HTTP, run by the orchestrator over `guardkit.rpc.workflows.*`. A workflow is also a build. */
@Controller()
@ApiTags('workflows')
export class WorkflowsController {
  constructor(private readonly rpc: RpcClient) {}

  /** 202: the workflow is queued; its progress is on `/builds/:id/events`, its agents' output on `/builds/:id/logs`. */
  @Access.run()
  @Post('workflows')
  @ApiDoc(
    'Start a role workflow (analysts → consensus → splitter → implementer → tester → reviewer) in a git repository',
    {
      400: 'a bad body, a cwd outside PIPELINE_WORKSPACE_ROOTS or not a git repository with a commit',
      503: UNAVAILABLE,
    },
  )
  @ApiBody({ type: CreateWorkflowDto })
  @HttpCode(202)
  create(@Body() dto: CreateWorkflowDto): Promise<WorkflowCreated> {
    return this.rpc.call('workflows.create', { ...dto, request_id: dto.request_id ?? randomUUID() }, 2);
  }

  @Access.run()
  @Get('workflows')
  @ApiDoc('Workflows, newest first', { 400: 'a bad state or limit', 503: UNAVAILABLE })
  list(@Query() query: ListWorkflowsQuery): Promise<{ items: WorkflowView[] }> {
    return this.rpc.call('workflows.list', query);
  }

  @Access.run()
  @Get('workflows/:id')
  @ApiDoc('A workflow: its roles, their states and attempts, its rounds and artifacts', {
    400: 'an invalid workflow id',
    404: 'no such workflow',
    503: UNAVAILABLE,
  })
  get(@Param('id') id: string): Promise<WorkflowView> {
    return this.rpc.call('workflows.get', { workflow_id: assertSafeId('workflow id', id) });
  }

  @Access.run()
  @Get('workflows/:id/artifacts/:name')
  @ApiDoc(
    "A workflow's artifact: a role's answer, a round's diff, a test log, raw output that did not parse",
    {
      400: 'an invalid workflow id or artifact name',
      404: 'no such workflow or artifact',
      503: UNAVAILABLE,
    },
  )
  @ApiProduces('application/json', 'text/x-diff', 'text/plain')
  async artifact(@Param('id') id: string, @Param('name') name: string, @Res() res: Response): Promise<void> {
    if (!ARTIFACT_NAME_PATTERN.test(name))
      throw new ValidationError(`invalid artifact name ${JSON.stringify(name.slice(0, 140))}`, ['name']);
    const artifact = await this.rpc.call<WorkflowArtifact>('workflows.artifact', {
      workflow_id: assertSafeId('workflow id', id),
      name,
    });
    res.status(200).type(`${artifact.content_type}; charset=utf-8`).send(artifact.content);
  }

  /** cancel ends the running roles' process groups and removes the jobs; retry starts again from the failed role. */
  @Access.run()
  @Post('workflows/:id/:command')
  @ApiDoc('Cancel or retry a workflow', {
    400: 'an invalid workflow id or command',
    404: 'no such workflow',
    409: 'the workflow is in a state the command is not for (INVALID_TRANSITION)',
    503: UNAVAILABLE,
  })
  @ApiParam({ name: 'command', enum: Object.keys(WORKFLOW_COMMANDS) })
  @HttpCode(202)
  command(@Param('id') id: string, @Param('command') command: string): Promise<WorkflowView> {
    if (!Object.hasOwn(WORKFLOW_COMMANDS, command))
      throw new ValidationError(`unknown command ${JSON.stringify(command)}: cancel or retry`, ['command']);
    return this.rpc.call('workflows.command', {
      workflow_id: assertSafeId('workflow id', id),
      command: command as WorkflowCommand,
    });
  }

  @Access.run()
  @Get('agents')
  @ApiDoc('The agent queues: each role`s workers at once and its jobs by state', { 503: UNAVAILABLE })
  agents(): Promise<{ items: AgentRoleView[] }> {
    return this.rpc.call('agents.list', {});
  }

  /** Lasts until the orchestrators restart (AGENT_CONCURRENCY is the baseline). Admin only (SPEC 4.3). */
  @Access.admin()
  @Put('agents/:role')
  @ApiDoc("Change a role's workers at once, on every orchestrator", {
    400: 'an invalid role or concurrency (1 to 100)',
    503: UNAVAILABLE,
  })
  @ApiBody({ type: AgentConcurrencyDto })
  setConcurrency(
    @Param('role') role: string,
    @Body() dto: AgentConcurrencyDto,
  ): Promise<{ items: AgentRoleView[] }> {
    return this.rpc.call('agents.concurrency', {
      role: assertSafeId('role', role),
      concurrency: dto.concurrency,
    });
  }
}
