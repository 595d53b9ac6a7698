import 'reflect-metadata';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { ListLimitQuery } from './autoappdev.js';
import { SAFE_ID_PATTERN } from './ids.js';

/** SPEC 6.2: the states of a role workflow (`workflows.state`). */
export const WORKFLOW_STATES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type WorkflowState = (typeof WORKFLOW_STATES)[number];

export const WORKFLOW_MODES = ['feature', 'bug_hunt'] as const;
export type WorkflowMode = (typeof WORKFLOW_MODES)[number];

/**
 * The stages of a workflow, in order: the drafters (two analysts, or N bug hunters), then one role each. A
 * workflow build's `wave` is the stage's position; `turn` is the review round.
 */
export const WORKFLOW_STAGES = [
  'draft',
  'consensus',
  'splitter',
  'implementer',
  'tester',
  'reviewer',
] as const;
export type WorkflowStage = (typeof WORKFLOW_STAGES)[number];

/** The agent roles a workflow uses (each has its queue, `agents-<role>`). */
export const WORKFLOW_ROLES = [
  'analyst',
  'bug_hunter',
  'consensus',
  'splitter',
  'implementer',
  'tester',
  'reviewer',
] as const;
export type WorkflowRole = (typeof WORKFLOW_ROLES)[number];

/** SPEC 6.2: every role answers one JSON object with one of these statuses. */
export const ROLE_ANSWER_STATUSES = ['OK', 'CHANGES_REQUESTED', 'BLOCKED'] as const;
export type RoleAnswerStatus = (typeof ROLE_ANSWER_STATUSES)[number];

export interface RoleAnswer {
  status: RoleAnswerStatus;
  summary: string;
  details: string;
}

export const WORKFLOW_COMMANDS = {
  cancel: ['queued', 'running'],
  retry: ['failed', 'cancelled'],
} as const satisfies Record<string, readonly WorkflowState[]>;
export type WorkflowCommand = keyof typeof WORKFLOW_COMMANDS;

/** `POST /workflows` and `guardkit.rpc.workflows.create`. */
export class CreateWorkflowDto {
  @ApiProperty({ description: 'what to build or which bugs to hunt, for every role`s prompt' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(50_000)
  description: string;
  @ApiPropertyOptional({ description: 'constraints and hints for every role' })
  @IsOptional()
  @IsString()
  @MaxLength(50_000)
  guidance?: string;
  @ApiProperty({ description: 'a git repository with a commit, under PIPELINE_WORKSPACE_ROOTS' })
  @IsString()
  @MaxLength(4096)
  cwd: string;
  @ApiPropertyOptional({ enum: WORKFLOW_MODES, default: 'feature' })
  @IsOptional()
  @IsIn(WORKFLOW_MODES)
  mode?: WorkflowMode;
  @ApiPropertyOptional({ description: 'bug hunters in bug_hunt mode', minimum: 1, maximum: 8, default: 2 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(8)
  hunters?: number;
  /** Set by the gateway so a request it sends twice (answer lost) starts one workflow. */
  @IsOptional() @IsString() @MaxLength(100) request_id?: string;
}

export class WorkflowIdQuery {
  @IsString()
  @Matches(SAFE_ID_PATTERN, { message: 'workflow id must be letters, digits, _ or -' })
  workflow_id: string;
}

export class WorkflowCommandQuery extends WorkflowIdQuery {
  @IsIn(Object.keys(WORKFLOW_COMMANDS)) command: WorkflowCommand;
}

/** Artifact names: `r1-analyst-1.json`, `r2.diff`, `r1-tester.log`, `r1-consensus.a2.raw.txt`. */
export const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class WorkflowArtifactQuery extends WorkflowIdQuery {
  @IsString()
  @Matches(ARTIFACT_NAME_PATTERN, { message: 'artifact name must be letters, digits, _, - or .' })
  name: string;
}

export class ListWorkflowsQuery extends ListLimitQuery {
  @ApiPropertyOptional({ enum: WORKFLOW_STATES }) @IsOptional() @IsIn(WORKFLOW_STATES) state?: WorkflowState;
}

/** `PUT /agents/:role`: the role's workers at once, over every orchestrator. */
export class AgentConcurrencyDto {
  @ApiProperty({ minimum: 1, maximum: 100 })
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  concurrency: number;
}

export class SetAgentConcurrency extends AgentConcurrencyDto {
  @IsString()
  @Matches(SAFE_ID_PATTERN, { message: 'role must be letters, digits, _ or -' })
  role: string;
}

/** One execution of a role: which model, how it ended, what it answered. */
export interface RoleAttemptView {
  attempt: number;
  model: string | null;
  state: 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled';
  exit_code: number | null;
  detail: string | null;
  answer: RoleAnswer | null;
  started_at: string;
  ended_at: string | null;
}

/** A node of the graph in one round (`analyst-1`, `consensus`, `implementer` …). */
export interface RoleView {
  node: string;
  role: string;
  round: number;
  state: 'waiting' | 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled';
  attempts: RoleAttemptView[];
}

export interface WorkflowFailure {
  node: string | null;
  round: number;
  reason: string;
}

/** `GET /workflows/:id`. */
export interface WorkflowView {
  workflow_id: string;
  build_id: string;
  state: WorkflowState;
  mode: WorkflowMode;
  description: string;
  guidance: string | null;
  cwd: string;
  base_commit: string;
  round: number;
  max_rounds: number;
  /** The node running or last run. */
  current: string | null;
  roles: RoleView[];
  artifacts: { name: string; content_type: string; bytes: number; created_at: string }[];
  failure: WorkflowFailure | null;
  notes: string[];
  created_at: string;
  finished_at: string | null;
  updated_at: string;
}

export interface WorkflowCreated {
  workflow_id: string;
  build_id: string;
  state: WorkflowState;
}

export interface WorkflowArtifact {
  name: string;
  content_type: string;
  content: string;
}

/** `GET /agents`: each role's queue, its workers at once and its jobs. */
export interface AgentRoleView {
  role: string;
  queue: string;
  concurrency: number;
  counts: Record<string, number>;
}
