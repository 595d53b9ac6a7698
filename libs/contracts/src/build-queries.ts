import 'reflect-metadata';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BUILD_STATUSES, type BuildStatus, type BuildStatusPayload } from './build-status.js';
import { SAFE_ID_PATTERN } from './ids.js';

export const BUILD_PAGE_DEFAULT = 50;
export const BUILD_PAGE_MAX = 200;

/** `GET /builds` and `guardkit.rpc.builds.list`. Query-string numbers are converted, so both share it. */
export class ListBuildsQuery {
  @ApiPropertyOptional({ enum: BUILD_STATUSES }) @IsOptional() @IsIn(BUILD_STATUSES) status?: BuildStatus;
  @ApiPropertyOptional({ minimum: 1, maximum: BUILD_PAGE_MAX, default: BUILD_PAGE_DEFAULT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(BUILD_PAGE_MAX)
  limit?: number;
  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'cursor is not one this service issued' })
  cursor?: string;
}

/** `guardkit.rpc.builds.get` */
export class GetBuildQuery {
  @IsString() @Matches(SAFE_ID_PATTERN, { message: 'build_id must match $constraint1' }) build_id: string;
}

/** A build as the REST API shows it: its latest status, and the event id an SSE client can resume from. */
export interface BuildView {
  build_id: string;
  status: BuildStatus;
  progress_pct: number;
  project: string | null;
  started_at: string | null;
  updated_at: string;
  /** When the latest status was stored (UTC), whatever clock its writer used. */
  received_at: string;
  /** Not finished, and nothing received for BUILD_STALE_MINUTES: the writer may have stopped (derived, never written). */
  stale: boolean;
  last_event_id: number;
  latest: BuildStatusPayload;
}

export interface BuildPage {
  items: BuildView[];
  next_cursor: string | null;
}

/** The reply of every request/reply method: a result, or an error with its GuardkitError code. */
export type RpcReply<T> = { ok: true; result: T } | { ok: false; error: { code: string; message: string } };
