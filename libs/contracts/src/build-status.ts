import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { SAFE_ID_PATTERN } from './ids.js';
import { ISO_DATE_TIME_PATTERN, publishedSchema } from './validation.js';

export const BUILD_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

/** Statuses after which a build sends no more events (SSE sends `end` and closes). */
export const TERMINAL_BUILD_STATUSES: ReadonlySet<string> = new Set<BuildStatus>([
  'completed',
  'failed',
  'cancelled',
]);

/** What a progress file may say; `error` is GuardKit's older spelling of `failed`. */
export const INPUT_BUILD_STATUSES = [...BUILD_STATUSES, 'error'] as const;

const FINITE = { allowNaN: false, allowInfinity: false };

/**
 * Each metric is optional (a writer that has none yet leaves it out) and may be a fraction (elapsed_seconds is
 * a clock difference, `245.37`); what is sent is kept as sent.
 */
export class BuildMetricsDto {
  @IsOptional() @IsNumber(FINITE) @Min(0) elapsed_seconds?: number;
  @IsOptional() @IsNumber(FINITE) @Min(0) files_created?: number;
  @IsOptional() @IsNumber(FINITE) @Min(0) files_modified?: number;
  @IsOptional() @IsNumber(FINITE) @Min(0) tests_passed?: number;
  @IsOptional() @IsNumber(FINITE) @Min(0) tests_total?: number;
}

/** The fields a progress file and a published status share (seed 001); build_id and status differ. */
abstract class BuildStatusFields {
  @IsString() @IsNotEmpty() build_type: string;
  @IsInt() @Min(0) wave: number;
  @IsInt() @Min(0) wave_total: number;
  @IsString() @IsNotEmpty() task_id: string;
  @IsString() task_name: string;
  @IsInt() @Min(0) turn: number;
  @IsInt() @Min(0) turn_max: number;
  @IsString() phase: string;
  @IsString() phase_status: string;
  @IsObject() @ValidateNested() @Type(() => BuildMetricsDto) metrics: BuildMetricsDto;
  @IsString()
  @Matches(ISO_DATE_TIME_PATTERN, { message: 'started_at must be an ISO-8601 date and time' })
  started_at: string;
  @IsString()
  @Matches(ISO_DATE_TIME_PATTERN, { message: 'updated_at must be an ISO-8601 date and time' })
  updated_at: string;
}

/**
 * GuardKit's progress.json (seed 001), as read from disk. Every field of the seed is required except
 * `build_id`, which defaults to the task folder's name. Unknown extra fields are allowed and kept.
 * docs/schemas/progress-file.schema.json says the same; a test holds the two together.
 */
export class ProgressFileDto extends BuildStatusFields {
  @IsOptional()
  @IsString()
  @Matches(SAFE_ID_PATTERN, { message: 'build_id must match $constraint1' })
  build_id?: string;
  @IsIn(INPUT_BUILD_STATUSES) status: (typeof INPUT_BUILD_STATUSES)[number];
}

/**
 * The payload as published: the progress file with the build id always present, `error` already read as
 * `failed`, and the derived progress_pct. docs/schemas/build-status.schema.json says the same.
 */
export class BuildStatusPayloadDto extends BuildStatusFields {
  @IsString() @Matches(SAFE_ID_PATTERN, { message: 'build_id must match $constraint1' }) build_id: string;
  @IsIn(BUILD_STATUSES) status: BuildStatus;
  @IsInt() @Min(0) @Max(100) progress_pct: number;
}

/** The fields of seed 001's progress.json, as published (no index signature, so they can be picked and omitted). */
export interface BuildStatusCore {
  build_id: string;
  build_type: string;
  status: BuildStatus;
  wave: number;
  wave_total: number;
  task_id: string;
  task_name: string;
  turn: number;
  turn_max: number;
  phase: string;
  phase_status: string;
  metrics: {
    elapsed_seconds?: number;
    files_created?: number;
    files_modified?: number;
    tests_passed?: number;
    tests_total?: number;
    [extra: string]: unknown;
  };
  started_at: string;
  updated_at: string;
}

/** The payload of `guardkit.builds.<id>.status` (SPEC 2.2): the core fields, progress_pct, and any extra field kept. */
export interface BuildStatusPayload extends BuildStatusCore {
  progress_pct: number;
  [extra: string]: unknown;
}

export type BuildEventType =
  'build_started' | 'build_progress' | 'build_complete' | 'build_failed' | 'build_cancelled';

/** SPEC 2.1: the event type of a build status message. */
export function buildEventType(status: BuildStatus, isFirstEvent: boolean): BuildEventType {
  switch (status) {
    case 'completed':
      return 'build_complete';
    case 'failed':
      return 'build_failed';
    case 'cancelled':
      return 'build_cancelled';
    case 'queued':
    case 'running':
      return isFirstEvent ? 'build_started' : 'build_progress';
  }
}

/**
 * 0 to 100 (docs/architecture.md, "Build progress"): 100 only when completed, 0 when queued or without waves,
 * else `floor((waves done + (turn - 1/2) / turn_max) / wave_total * 100)`, at most 99: the current turn counts
 * half. The phase and phase_status do not move it: GuardKit runs Player then Coach within a turn, each phase
 * going in_progress then completed, and counting them sent the bar back at every Coach phase. So it never
 * decreases while the wave and the turn go forward.
 */
export function progressPercent(
  p: Pick<BuildStatusPayload, 'status' | 'wave' | 'wave_total' | 'turn' | 'turn_max'>,
): number {
  if (p.status === 'completed') return 100;
  if (p.status === 'queued' || p.wave_total <= 0) return 0;
  const wavesDone = Math.min(Math.max(p.wave - 1, 0), p.wave_total);
  const turn = Math.min(Math.max(p.turn, 1), Math.max(p.turn_max, 1));
  const turnShare = p.turn_max > 0 ? (turn - 0.5) / p.turn_max : 0;
  const pct = Math.floor(((wavesDone + turnShare) / p.wave_total) * 100);
  return Math.min(Math.max(pct, 0), 99);
}

/**
 * Turns a validated progress file into the published payload: `error` becomes `failed`, the build id
 * falls back to the folder name, progress_pct is derived; every other field, known or not, is kept as is.
 */
export function toBuildStatusPayload(
  file: Record<string, unknown> & ProgressFileDto,
  fallbackBuildId: string,
): BuildStatusPayload {
  const status: BuildStatus = file.status === 'error' ? 'failed' : file.status;
  const payload = { ...file, build_id: file.build_id ?? fallbackBuildId, status } as BuildStatusPayload;
  payload.progress_pct = progressPercent(payload);
  return payload;
}

// the published JSON Schemas of these DTOs: validatePlain's fast path (docs/schemas)
publishedSchema(ProgressFileDto, 'progress-file.schema.json');
publishedSchema(BuildStatusPayloadDto, 'build-status.schema.json');
