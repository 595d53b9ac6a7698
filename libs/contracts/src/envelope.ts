import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  Equals,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
} from 'class-validator';
import { ISO_DATE_TIME_PATTERN, publishedSchema } from './validation.js';

export const ENVELOPE_VERSION = '1.0';

/**
 * SPEC 2.1: the JSON envelope of every message, readable by GuardKit's nats-core `MessageEnvelope`.
 * docs/schemas/envelope.schema.json says the same; a test holds the two together.
 */
export interface Envelope<P extends object = Record<string, unknown>> {
  message_id: string;
  timestamp: string;
  version: typeof ENVELOPE_VERSION;
  source_id: string;
  event_type: string;
  project?: string;
  correlation_id?: string;
  payload: P;
}

export class EnvelopeDto {
  @IsString() @IsNotEmpty() message_id: string;
  @IsString()
  @Matches(ISO_DATE_TIME_PATTERN, { message: 'timestamp must be an ISO-8601 date and time' })
  timestamp: string;
  @Equals(ENVELOPE_VERSION) version: string;
  @IsString() @IsNotEmpty() source_id: string;
  @IsString() @IsNotEmpty() event_type: string;
  @IsOptional() @IsString() project?: string;
  @IsOptional() @IsString() correlation_id?: string;
  @IsObject() payload: Record<string, unknown>;
}

export function createEnvelope<P extends object>(fields: {
  source_id: string;
  event_type: string;
  payload: P;
  message_id?: string;
  project?: string;
  correlation_id?: string;
  timestamp?: Date;
}): Envelope<P> {
  const envelope: Envelope<P> = {
    message_id: fields.message_id ?? randomUUID(),
    timestamp: (fields.timestamp ?? new Date()).toISOString(),
    version: ENVELOPE_VERSION,
    source_id: fields.source_id,
    event_type: fields.event_type,
    payload: fields.payload,
  };
  if (fields.project !== undefined) envelope.project = fields.project;
  if (fields.correlation_id !== undefined) envelope.correlation_id = fields.correlation_id;
  return envelope;
}

/** `GET /ingest/rejections`: the newest N files the ingestor refused, newest first. */
export class ListRejectionsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;
}

/** One refused file as `GET /ingest/rejections` shows it: the rejection, its event id and when it was stored. */
export interface RejectionView extends IngestRejectedPayload {
  seq: number;
  received_at: string;
}

/** The payload of `guardkit.ingest.rejected`: a file the ingestor refused and why. */
export interface IngestRejectedPayload {
  bridge: 'progress' | 'outbox';
  path: string;
  reason: string;
  problems: string[];
  content_sha256?: string;
}

// the published JSON Schema of the envelope: validatePlain's fast path (docs/schemas)
publishedSchema(EnvelopeDto, 'envelope.schema.json');
