import 'reflect-metadata';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { GuardkitError } from './errors.js';

/**
 * An error of AutoAppDev's own API (`{error: "empty_script"}` and the like), kept with its code so the gateway
 * answers as AutoAppDev does; `status` is the HTTP status AutoAppDev gives it.
 */
export class AutoAppDevError extends GuardkitError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** AutoAppDev's HTTP status per error code (400 unless listed). */
export const AUTOAPPDEV_STATUS: Record<string, number> = { not_found: 404, script_not_found: 404 };

/** A saved AAPS script (`/api/scripts`), as AutoAppDev shows it. */
export interface SavedScript {
  id: number;
  title: string;
  script_text: string;
  script_version: number;
  script_format: string;
  ir: unknown;
  created_at: string;
  updated_at: string;
}

export class ScriptIdQuery {
  @Type(() => Number) @IsInt() @Min(1) id: number;
}

/** `?limit=` of a list, newest first: 1 to 500 (the handlers' default is 50). */
export class ListLimitQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

/** `POST /api/scripts` and `PUT /api/scripts/:id` once the gateway checked them as AutoAppDev does. */
export class SaveScriptCommand {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) id?: number;
  @IsOptional() @IsString() @MaxLength(500) title?: string;
  @IsOptional() @IsString() script_text?: string;
  @IsOptional() @IsInt() script_version?: number;
  @IsOptional() @IsString() @MaxLength(100) script_format?: string;
  /** The body named `ir` (even as null): it replaces the stored one. */
  @IsOptional() @IsBoolean() ir_set?: boolean;
  @IsOptional() ir?: unknown;
}

export class PostInboxCommand {
  @IsString() @MaxLength(10_000) content: string;
}

/** `POST /api/pipeline/start`: AutoAppDev's body. */
export class StartDefaultPipelineCommand {
  @IsOptional() @IsString() script?: string;
  @IsOptional() @IsString() cwd?: string;
  @IsOptional() @IsArray() args?: unknown[];
  @IsOptional() @IsObject() env?: Record<string, string>;
}

export interface InboxMessageView {
  id: number;
  role: string;
  content: string;
  created_at: string;
}
