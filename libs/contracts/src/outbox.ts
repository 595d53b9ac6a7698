import 'reflect-metadata';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsNotEmpty, IsOptional, IsString, Matches } from 'class-validator';
import { ListLimitQuery } from './autoappdev.js';
import { SAFE_ID_PATTERN } from './ids.js';

/** SPEC 3.2: `<ts>_<role>.md` or `.txt`, as AutoAppDev names them. */
export const OUTBOX_FILE_PATTERN = /^([0-9]+)_([A-Za-z0-9-]+)\.(md|txt)$/;
export const OUTBOX_ROLES = ['pipeline', 'system'] as const;
export type OutboxRole = (typeof OUTBOX_ROLES)[number];
/** AutoAppDev's limit on a message's length, in characters. */
export const OUTBOX_MAX_CHARS = 10_000;

/** As AutoAppDev reads it: lower-cased, and anything but `system` or `pipeline` is `pipeline`. */
export function outboxRole(raw: unknown): OutboxRole {
  const role = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  return (OUTBOX_ROLES as readonly string[]).includes(role) ? (role as OutboxRole) : 'pipeline';
}

/**
 * A file name's timestamp in nanoseconds. AutoAppDev writers mix seconds (`date +%s`), milliseconds
 * (`%s%3N`) and nanoseconds (`time_ns()`), so the digits are read by their count: up to 10 seconds,
 * up to 13 milliseconds, up to 16 microseconds, more nanoseconds.
 */
export function outboxTimestampNs(digits: string): bigint {
  const value = BigInt(digits);
  if (digits.length <= 10) return value * 1_000_000_000n;
  if (digits.length <= 13) return value * 1_000_000n;
  if (digits.length <= 16) return value * 1_000n;
  return value;
}

/** The payload of `guardkit.outbox.<source>.<role>`. */
export interface OutboxMessagePayload {
  source: string;
  role: OutboxRole;
  content: string;
  truncated: boolean;
  /** The file it came from (absent for `POST /api/outbox`). */
  file_name?: string;
  /** The file name's timestamp, as an ISO-8601 date (absent for `POST /api/outbox`). */
  file_ts?: string;
}

export class OutboxMessagePayloadDto {
  @IsString() @Matches(SAFE_ID_PATTERN) source: string;
  @IsIn(OUTBOX_ROLES) role: OutboxRole;
  @IsString() @IsNotEmpty() content: string;
  @IsBoolean() truncated: boolean;
  @IsOptional() @IsString() file_name?: string;
  @IsOptional() @IsString() file_ts?: string;
}

/** `GET /api/outbox` and `guardkit.rpc.outbox.list`: the newest N messages, returned oldest first. */
export class ListOutboxQuery extends ListLimitQuery {
  @ApiPropertyOptional({ pattern: SAFE_ID_PATTERN.source })
  @IsOptional()
  @IsString()
  @Matches(SAFE_ID_PATTERN)
  source?: string;
}

/** AutoAppDev's message shape, with the source; `id` is the order in which messages were stored (stream order). */
export interface OutboxMessageView {
  id: number;
  /** Its sequence in GUARDKIT_OUTBOX: the `id:` of the same message on `/outbox/events`. */
  seq: number;
  role: OutboxRole;
  content: string;
  created_at: string;
  source: string;
  truncated: boolean;
  file_ts: string | null;
}
