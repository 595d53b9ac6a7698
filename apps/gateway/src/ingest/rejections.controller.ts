import { Access } from '#platform';
import { Controller, Get, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { StoredMsg } from '@nats-io/jetstream';
import {
  type Envelope,
  type IngestRejectedPayload,
  ListRejectionsQuery,
  type RejectionView,
} from '#contracts';
import { Bus, readStoredMessage } from '#bus';
import { ApiDoc } from '../http/api-docs.js';

/**
 * `GET /ingest/rejections`: the files the ingestor refused, and why, newest first. Read from the
 * `guardkit.ingest.rejected` stream itself (by direct get, from its end backwards): what NATS keeps is the list.
 */
@Controller('ingest')
@ApiTags('ingest')
export class RejectionsController {
  constructor(private readonly bus: Bus) {}

  @Access.admin()
  @Get('rejections')
  @ApiDoc('Files the ingestor refused, newest first, with the reason', {
    400: 'a bad limit',
    503: 'NATS is away',
  })
  async list(@Query() query: ListRejectionsQuery): Promise<{ items: RejectionView[] }> {
    const limit = query.limit ?? 50;
    const stream = this.bus.subjects.streamName('ingest');
    const { state } = await this.bus.jsm.streams.info(stream);
    const items: RejectionView[] = [];
    // Sequences removed by limits or deletes are skipped; the stream's first sequence bounds the walk.
    for (let seq = state.last_seq; seq >= state.first_seq && seq > 0 && items.length < limit; seq--) {
      const msg = await readStoredMessage(this.bus.jsm, stream, { seq }).catch(() => null);
      const view = msg ? toView(msg) : undefined;
      if (view) items.push(view);
    }
    return { items };
  }
}

function toView(msg: StoredMsg): RejectionView | undefined {
  try {
    const { payload } = msg.json<Envelope<IngestRejectedPayload>>();
    return {
      seq: msg.seq,
      received_at: msg.time.toISOString(),
      bridge: payload.bridge,
      path: payload.path,
      reason: payload.reason,
      problems: payload.problems ?? [],
      ...(payload.content_sha256 ? { content_sha256: payload.content_sha256 } : {}),
    };
  } catch {
    return undefined; // not an envelope: nothing to show
  }
}
