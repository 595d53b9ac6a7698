import { Access } from '#platform';
import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { assertSafeId, type BuildPage, type BuildView, ListBuildsQuery, ValidationError } from '#contracts';
import { RpcClient } from '#bus';
import { grantsOf } from '../access/access.guard.js';
import { SseHub } from '../sse/sse-hub.js';
import { ALL_KEYS } from '../sse/stream-tail.js';
import { ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';

/** At most this many builds on one `/events` connection. */
export const MAX_BUILDS_PER_STREAM = 100;

@Controller()
@ApiTags('builds')
export class BuildsController {
  constructor(
    private readonly rpc: RpcClient,
    private readonly sse: SseHub,
  ) {}

  @Access.token()
  @Get('builds')
  @ApiDoc('Builds, most recently active first, a page at a time', {
    400: 'a bad status, limit or cursor',
    503: UNAVAILABLE,
  })
  async list(@Query() query: ListBuildsQuery, @Req() req: Request): Promise<BuildPage> {
    const page = await this.rpc.call<BuildPage>('builds.list', query);
    const grants = grantsOf(req);
    // only the builds the token may read (a page may come out shorter; its cursor still goes on)
    return grants.everyBuild
      ? page
      : { ...page, items: page.items.filter((b) => grants.canReadBuild(b.build_id)) };
  }

  @Access.build()
  @Get('builds/:id')
  @ApiDoc("A build's latest status, with the event id to resume from and whether it is stale", {
    400: 'an invalid build id',
    404: 'no such build',
    503: UNAVAILABLE,
  })
  get(@Param('id') id: string): Promise<BuildView> {
    return this.rpc.call<BuildView>('builds.get', { build_id: assertSafeId('build id', id) });
  }

  @Access.build()
  @Get('builds/:id/events')
  @ApiDoc("SSE: a build's status events (SPEC 4.2); resumable with Last-Event-ID", {
    400: 'an invalid build id or Last-Event-ID',
  })
  @ApiProduces('text/event-stream')
  async buildEvents(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.sse.builds.serve([assertSafeId('build id', id)], lastEventIdOf(req), res);
  }

  @Access.token()
  @Get('events')
  @ApiDoc('SSE: the status events of several builds, or of every build (`*`), on one connection', {
    400: 'no builds, an invalid id, more than 100, or a bad Last-Event-ID',
  })
  @ApiQuery({
    name: 'builds',
    description:
      'build ids, comma-separated (at most 100); or `*`: every build the token may read, new ones as they ' +
      'start, each terminal status followed by `end` while the stream goes on',
    example: 'TASK-1,TASK-2',
  })
  @ApiProduces('text/event-stream')
  async manyBuildEvents(
    @Query('builds') builds: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    if (typeof builds !== 'string' || builds.trim() === '') {
      throw new ValidationError('builds must list one or more build ids, comma-separated, or be *', [
        'builds',
      ]);
    }
    const grants = grantsOf(req);
    if (builds.trim() === '*') {
      // every build, new ones included (the dashboard's list): those the token may read
      await this.sse.builds.serve(
        ALL_KEYS,
        lastEventIdOf(req),
        res,
        grants.everyBuild ? undefined : (event) => event.key !== undefined && grants.canReadBuild(event.key),
      );
      return;
    }
    const asked = [...new Set(builds.split(',').map((id) => assertSafeId('build id', id.trim())))];
    if (asked.length > MAX_BUILDS_PER_STREAM) {
      throw new ValidationError(`at most ${MAX_BUILDS_PER_STREAM} builds per stream`, ['builds']);
    }
    // SPEC 4.3: the stream carries only the builds the token may read; none of them is a 403
    const ids = asked.filter((id) => grants.canReadBuild(id));
    grants.require(ids.length > 0, 'reading these builds');
    await this.sse.builds.serve(ids, lastEventIdOf(req), res);
  }
}

/** `Last-Event-ID` header, or `?lastEventId=` for clients that cannot set headers. */
export function lastEventIdOf(req: Request): number | undefined {
  const header = req.headers['last-event-id'];
  const query = req.query['lastEventId'];
  const value =
    typeof header === 'string' && header !== '' ? header : typeof query === 'string' ? query : undefined;
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    throw new ValidationError(
      `Last-Event-ID must be an event id (a stream sequence), not ${JSON.stringify(value.slice(0, 40))}`,
      ['Last-Event-ID'],
    );
  }
  return Number(value);
}
