import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { ListLimitQuery } from './autoappdev.js';

/** `guardkit.rpc.audit.record`: an admin or run request the gateway answered, and who made it (SPEC 4.3). */
export class RecordAuditDto {
  /** The token's `sub`; absent when access is open or the token has none. */
  @IsOptional() @IsString() @MaxLength(200) actor?: string;
  /** The method and route pattern: `POST /pipelines/:id/:command`. */
  @IsString() @MaxLength(300) action: string;
  /** The path as requested, without its query string. */
  @IsString() @MaxLength(2000) path: string;
  @IsInt() @Min(100) @Max(599) status: number;
  /** The route's parameters: which pipeline, which role… */
  @IsObject() params: Record<string, string>;
}

/** `GET /audit` and `guardkit.rpc.audit.list`: newest first; `before` is the id to continue below. */
export class ListAuditQuery extends ListLimitQuery {
  @ApiPropertyOptional({ description: 'entries with an id below this one (the previous page`s last id)' })
  @IsOptional()
  @Matches(/^\d{1,19}$/, { message: 'before must be an entry id' })
  before?: string;
}

export class AuditEntryView {
  @ApiProperty() id: string;
  @ApiProperty() at: string;
  @ApiProperty({ nullable: true, description: 'the token`s sub' }) actor: string | null;
  @ApiProperty() action: string;
  @ApiProperty({ description: '`request` (an API call), `trigger`, `thread` or `session`' })
  subject_type: string;
  @ApiProperty() subject_id: string;
  @ApiProperty({ nullable: true }) reason: string | null;
  @ApiProperty() details: object;
}
