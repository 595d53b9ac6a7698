import 'reflect-metadata';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsObject, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { GuardkitError } from './errors.js';
import { ListLimitQuery } from './autoappdev.js';
import { SAFE_ID_PATTERN } from './ids.js';
import { WORKFLOW_ROLES } from './workflows.js';

/** SPEC 6.1: the states of a pipeline run (`pipeline_runs.state`). */
export const PIPELINE_STATES = ['queued', 'running', 'paused', 'completed', 'failed', 'cancelled'] as const;
export type PipelineState = (typeof PIPELINE_STATES)[number];
export const TERMINAL_PIPELINE_STATES: ReadonlySet<PipelineState> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

/** Commands on a run, and the states each may start from. */
export const PIPELINE_COMMANDS = {
  pause: ['queued', 'running'],
  resume: ['paused'],
  cancel: ['queued', 'running', 'paused'],
  retry: ['failed', 'cancelled'],
} as const satisfies Record<string, readonly PipelineState[]>;
export type PipelineCommand = keyof typeof PIPELINE_COMMANDS;

/** SPEC 6.3: the agent queue of a role is `agents-<role>`. */
export const AGENT_QUEUE_PREFIX = 'agents-';
export const agentQueueName = (role: string): string => `${AGENT_QUEUE_PREFIX}${role}`;

/** A pipeline action's role when its `meta.role` does not name one: by its step's block (SPEC 6.3). */
export const ROLE_BY_BLOCK = {
  plan: 'planner',
  work: 'implementer',
  fix: 'implementer',
  debug: 'tester',
  summary: 'reviewer',
  commit_push: 'committer',
} as const;
/** The roles every installation has a queue for: pipelines' and workflows' (more come from AGENT_CONCURRENCY). */
export const BUILT_IN_ROLES = [...new Set([...Object.values(ROLE_BY_BLOCK), ...WORKFLOW_ROLES])];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const isEnvName = (name: string): boolean => ENV_NAME.test(name);

/** `POST /pipelines` and `guardkit.rpc.pipelines.create`: a script or an IR, where to run it, and how. */
export class CreatePipelineDto {
  @ApiPropertyOptional({ description: 'an AAPS v1 script (this or `ir`)' })
  @IsOptional()
  @IsString()
  script_text?: string;
  @ApiPropertyOptional({ description: 'an autoappdev_ir v1 document (this or `script_text`)', type: Object })
  @IsOptional()
  @IsObject()
  ir?: Record<string, unknown>;
  @ApiProperty({ description: 'the working folder, under PIPELINE_WORKSPACE_ROOTS' })
  @IsString()
  @MaxLength(4096)
  cwd: string;
  @ApiPropertyOptional({ description: 'extra environment variables for every action', type: Object })
  @IsOptional()
  @IsObject()
  env?: Record<string, string>;
  @ApiPropertyOptional({ description: 'the outbox source META_TASK messages go to (default `local`)' })
  @IsOptional()
  @Matches(SAFE_ID_PATTERN, { message: 'source must be letters, digits, _ or -' })
  source?: string;
  @ApiPropertyOptional({ description: 'a name for people (default: the first task`s title)' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  title?: string;
  /** Set by the gateway so a request it sends twice (answer lost) starts one run. */
  @IsOptional() @IsString() @MaxLength(100) request_id?: string;
}

export class PipelineIdQuery {
  @IsString() @Matches(SAFE_ID_PATTERN, { message: 'run id must be letters, digits, _ or -' }) run_id: string;
}

export class PipelineCommandQuery extends PipelineIdQuery {
  @IsIn(Object.keys(PIPELINE_COMMANDS)) command: PipelineCommand;
}

export class ListPipelinesQuery extends ListLimitQuery {
  @ApiPropertyOptional({ enum: PIPELINE_STATES }) @IsOptional() @IsIn(PIPELINE_STATES) state?: PipelineState;
}

/** Where a run is: the task (or meta-round item), step and action, with their positions. */
export interface PipelinePosition {
  task_id: string | null;
  task_title: string | null;
  item_id: string | null;
  step_id: string | null;
  step_title: string | null;
  action_id: string | null;
  action_kind: string | null;
}

export interface PipelineFailure {
  task_id: string | null;
  step_id: string | null;
  action_id: string | null;
  exit_code: number | null;
  reason: string;
}

/** `GET /pipelines/:id`. */
export interface PipelineView {
  run_id: string;
  build_id: string;
  title: string;
  state: PipelineState;
  /** A pause or cancel asked for and not yet taken (a pause waits for the running action to end). */
  requested: 'pause' | 'cancel' | null;
  cwd: string;
  source: string;
  current: PipelinePosition;
  failure: PipelineFailure | null;
  actions_run: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface PipelineCreated {
  run_id: string;
  build_id: string;
  state: PipelineState;
  warnings: unknown[];
}

/** One output line of a build's action or role, on `guardkit.logs.<build_id>` (SPEC 6.3). */
export interface LogLinePayload {
  build_id: string;
  /** Which execution of which action: the run's action counter and the attempt. */
  seq: number;
  attempt: number;
  role: string;
  task_id: string | null;
  step_id: string | null;
  action_id: string | null;
  stream: 'stdout' | 'stderr' | 'runner';
  line: string;
  truncated: boolean;
}

/** A script or IR that does not parse, or that AutoAppDev's runner would refuse; the message names the line or place. */
export class InvalidPipelineError extends GuardkitError {
  readonly code = 'INVALID_PIPELINE';
}

/** A command a run's state does not allow (pause a completed run, resume a running one). */
export class InvalidTransitionError extends GuardkitError {
  readonly code = 'INVALID_TRANSITION';
}
