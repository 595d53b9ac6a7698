import 'reflect-metadata';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { GuardkitError } from './errors.js';
import { SAFE_ID_PATTERN } from './ids.js';
import { ListLimitQuery } from './autoappdev.js';

/** SPEC 5: the states a trigger moves through, as `trigger_jobs.state` and on `guardkit.triggers.<id>.status`. */
export const TRIGGER_STATES = [
  'queued',
  'triggering',
  'deferred',
  'delivered',
  'timeout',
  'failed',
  'fallback_resume',
  'fallback_spawn',
] as const;
export type TriggerState = (typeof TRIGGER_STATES)[number];

/** A trigger is done in these states; `failed` can still be replayed. */
export const TERMINAL_TRIGGER_STATES: ReadonlySet<string> = new Set<TriggerState>([
  'delivered',
  'fallback_resume',
  'fallback_spawn',
  'failed',
]);

/** SPEC 5's decision: deliver to a live session, resume one, or spawn a new one. */
export const TRIGGER_DECISIONS = ['deliver', 'resume', 'spawn'] as const;
export type TriggerDecision = (typeof TRIGGER_DECISIONS)[number];

/** How one delivery step ended (SPEC 5, seed 002 "failure classifications"). */
export const ATTEMPT_RESULTS = [
  'running',
  'delivered',
  'deferred',
  'timeout',
  'failed',
  'interrupted',
] as const;
export type AttemptResult = (typeof ATTEMPT_RESULTS)[number];

/** The queues on the board (SPEC 4.1): every queue, the dead-letter queues included. */
export const TRIGGERS_QUEUE = 'triggers';
export const TRIGGERS_DEAD_QUEUE = 'triggers-dead';
export const QUEUE_NAMES = [TRIGGERS_QUEUE, TRIGGERS_DEAD_QUEUE] as const;

const safeId = (field: string) =>
  Matches(SAFE_ID_PATTERN, {
    message: `${field} must be letters, digits, _ or - (at most 128), not a subject`,
  });

export class ForceOverrideDto {
  @ApiProperty({ description: 'why the safeguards are overridden (kept in the audit log)' })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why the safeguards are overridden' })
  @MaxLength(1000)
  reason: string;
}

/** `POST /triggers` and `guardkit.rpc.triggers.create` (seed 002's `trigger_participant`). */
export class CreateTriggerDto {
  @ApiProperty({ pattern: SAFE_ID_PATTERN.source }) @IsString() @safeId('workspace_id') workspace_id: string;
  @ApiProperty({ pattern: SAFE_ID_PATTERN.source }) @IsString() @safeId('thread_id') thread_id: string;
  @ApiProperty({ pattern: SAFE_ID_PATTERN.source, description: 'the agent to wake' })
  @IsString()
  @safeId('target_agent_id')
  target_agent_id: string;
  @ApiProperty({ maxLength: 1000 }) @IsString() @IsNotEmpty() @MaxLength(1000) reason: string;
  /** Bounded again at delivery (TRIGGER_PAYLOAD_MAX_BYTES); this limit only refuses absurd requests. */
  @ApiProperty({
    maxLength: 65_536,
    description: 'typed into the session, bounded and stripped of control characters',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(65_536)
  prompt: string;
  @ApiPropertyOptional({
    maxLength: 200,
    description: 'the same key in a workspace returns the same trigger',
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  idempotency_key?: string;
  @ApiPropertyOptional({
    pattern: SAFE_ID_PATTERN.source,
    description:
      'the id of this request (the gateway sets one): the same request sent again, after an answer was lost, ' +
      'is answered with the trigger it created instead of creating another',
  })
  @IsOptional()
  @IsString()
  @safeId('request_id')
  request_id?: string;
  @ApiPropertyOptional({ type: () => ForceOverrideDto })
  @IsOptional()
  @IsObject({ message: 'force_override must be an object: {"reason": "..."}' })
  @ValidateNested()
  @Type(() => ForceOverrideDto)
  force_override?: ForceOverrideDto;
}

/** `GET /triggers`: the newest triggers, with their attempts. */
export class ListTriggersQuery extends ListLimitQuery {}

export class TriggerIdQuery {
  @IsString() @safeId('trigger_id') trigger_id: string;
}

/** The answer to a create: the trigger, the decision of SPEC 5, and whether this call created it. */
export interface TriggerCreated {
  trigger_id: string;
  decision: TriggerDecision;
  state: TriggerState;
  session_id: string | null;
  /** false when an idempotency_key matched an earlier trigger, which is returned unchanged. */
  created: boolean;
}

export interface TriggerAttemptView {
  attempt: number;
  step: TriggerDecision;
  result: AttemptResult;
  error_code: string | null;
  details: Record<string, unknown>;
  started_at: string;
  finished_at: string | null;
}

export interface TriggerView {
  trigger_id: string;
  workspace_id: string;
  thread_id: string;
  target_agent_id: string;
  reason: string;
  prompt: string;
  state: TriggerState;
  decision: TriggerDecision;
  session_id: string | null;
  idempotency_key: string | null;
  forced: boolean;
  last_error: { code: string; message: string } | null;
  created_at: string;
  updated_at: string;
  attempts: TriggerAttemptView[];
}

/** The payload of `guardkit.triggers.<id>.status`. */
export interface TriggerStatusPayload {
  trigger_id: string;
  state: TriggerState;
  decision: TriggerDecision;
  workspace_id: string;
  thread_id: string;
  target_agent_id: string;
  /** The attempt that caused the change, if one did. */
  attempt: number | null;
  error_code: string | null;
  message: string | null;
  /** Counts every change of this trigger; the event's Nats-Msg-Id is `<trigger_id>.<version>`. */
  version: number;
}

/** `POST /threads/:thread_id/progress` and `guardkit.rpc.threads.progress`: the loop guard's reset. */
export class ThreadProgressDto {
  @ApiProperty({ pattern: SAFE_ID_PATTERN.source }) @IsString() @safeId('workspace_id') workspace_id: string;
  @IsString() @safeId('thread_id') thread_id: string;
}

export const SESSION_RUNTIMES = ['tmux'] as const;
export type SessionRuntime = (typeof SESSION_RUNTIMES)[number];

/** A tmux target: `session`, `session:window` or `session:window.pane`, names or `%`/`@`/`$` ids. */
export const TMUX_TARGET_PATTERN =
  /^[$@%]?[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}(:[$@]?[A-Za-z0-9_-]{1,64}(\.%?[0-9]{1,6})?)?$/;

/** `POST /sessions` and `guardkit.rpc.sessions.register`. Registering a known session_id updates it. */
export class RegisterSessionDto {
  @ApiPropertyOptional({ pattern: SAFE_ID_PATTERN.source, description: 'a known id updates that session' })
  @IsOptional()
  @IsString()
  @safeId('session_id')
  session_id?: string;
  @ApiProperty({ pattern: SAFE_ID_PATTERN.source }) @IsString() @safeId('agent_id') agent_id: string;
  @ApiProperty({ pattern: SAFE_ID_PATTERN.source }) @IsString() @safeId('workspace_id') workspace_id: string;
  @ApiPropertyOptional({ pattern: SAFE_ID_PATTERN.source })
  @IsOptional()
  @IsString()
  @safeId('thread_id')
  thread_id?: string;
  @ApiProperty({ enum: SESSION_RUNTIMES }) @IsIn(SESSION_RUNTIMES) runtime: SessionRuntime;
  @ApiProperty({ example: 'coder:0.0', description: 'session[:window[.pane]]' })
  @IsString()
  @Matches(TMUX_TARGET_PATTERN, { message: 'tmux_target must be session[:window[.pane]]' })
  tmux_target: string;
  @ApiProperty({ description: 'guardkit-stream may type into it' }) @IsBoolean() managed: boolean;
  @ApiProperty({ description: 'TRIGGER_RESUME_COMMAND can bring it back' }) @IsBoolean() resumable: boolean;
}

export class SessionIdQuery {
  @IsString() @safeId('session_id') session_id: string;
}

export class ListSessionsQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @safeId('agent_id') agent_id?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @safeId('workspace_id') workspace_id?: string;
}

export interface SessionView {
  session_id: string;
  agent_id: string;
  workspace_id: string;
  thread_id: string | null;
  runtime: SessionRuntime;
  tmux_target: string;
  managed: boolean;
  resumable: boolean;
  registered_at: string;
  last_heartbeat_at: string;
  deregistered_at: string | null;
  /** No heartbeat for longer than 12 hours (SPEC 5). */
  stale: boolean;
}

/** More than 10 triggers a minute for one agent and thread (SPEC 5); try again later. */
export class TriggerRateLimitedError extends GuardkitError {
  readonly code = 'TRIGGER_RATE_LIMITED';
  override readonly retryable = true;
}

/**
 * A prompt longer than TRIGGER_PAYLOAD_MAX_BYTES once made safe for a terminal. It is refused whole: an agent
 * must not act on half an instruction.
 */
export class PayloadTooLargeError extends GuardkitError {
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/** The thread looks stuck in a loop; it takes reported progress or a force_override to wake it again. */
export class ThreadAutoBlockedError extends GuardkitError {
  readonly code = 'THREAD_AUTO_BLOCKED';
}

/** The request is valid but does not fit the current state (replaying a trigger that has not failed). */
export class ConflictError extends GuardkitError {
  readonly code = 'CONFLICT';
}
