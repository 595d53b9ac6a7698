import { Access } from '#platform';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { assertSafeId, ListSessionsQuery, RegisterSessionDto, type SessionView } from '#contracts';
import { RpcClient } from '#bus';
import { ApiTags } from '@nestjs/swagger';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';

/** The session registry over HTTP (`guardkit.rpc.sessions.*` does the same over NATS). */
@Access.admin()
@Controller('sessions')
@ApiTags('sessions')
export class SessionsController {
  constructor(private readonly rpc: RpcClient) {}

  @Post()
  @ApiDoc('Register (or update) a terminal session of an agent', {
    400: 'a missing or invalid field',
    503: UNAVAILABLE,
  })
  register(@Body() dto: RegisterSessionDto): Promise<SessionView> {
    return this.rpc.call('sessions.register', dto);
  }

  @Get()
  @ApiDoc('Sessions, by agent and workspace', { 400: 'an invalid filter', 503: UNAVAILABLE })
  list(@Query() query: ListSessionsQuery): Promise<{ items: SessionView[] }> {
    return this.rpc.call('sessions.list', query);
  }

  @Get(':id')
  @ApiDoc('One session', { 400: 'an invalid session id', 404: 'no such session', 503: UNAVAILABLE })
  get(@Param('id') id: string): Promise<SessionView> {
    return this.rpc.call('sessions.get', { session_id: assertSafeId('session id', id) });
  }

  @Post(':id/heartbeat')
  @ApiDoc('Keep a session fresh (stale after 12 hours without one)', {
    400: 'an invalid session id',
    404: 'no such session',
    503: UNAVAILABLE,
  })
  @HttpCode(200)
  heartbeat(@Param('id') id: string): Promise<SessionView> {
    return this.rpc.call('sessions.heartbeat', { session_id: assertSafeId('session id', id) });
  }

  @Delete(':id')
  @ApiDoc('Deregister a session', { 400: 'an invalid session id', 404: 'no such session', 503: UNAVAILABLE })
  deregister(@Param('id') id: string): Promise<SessionView> {
    return this.rpc.call('sessions.deregister', { session_id: assertSafeId('session id', id) });
  }
}
