import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { assertSafeId, ListSessionsQuery, RegisterSessionDto, type SessionView } from '#contracts';
import { RpcClient } from '#bus';
import { ApiTags } from '@nestjs/swagger';

/** The session registry over HTTP (`guardkit.rpc.sessions.*` does the same over NATS). */
@Controller('sessions')
@ApiTags('sessions')
export class SessionsController {
  constructor(private readonly rpc: RpcClient) {}

  @Post()
  register(@Body() dto: RegisterSessionDto): Promise<SessionView> {
    return this.rpc.call('sessions.register', dto);
  }

  @Get()
  list(@Query() query: ListSessionsQuery): Promise<{ items: SessionView[] }> {
    return this.rpc.call('sessions.list', query);
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<SessionView> {
    return this.rpc.call('sessions.get', { session_id: assertSafeId('session id', id) });
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  heartbeat(@Param('id') id: string): Promise<SessionView> {
    return this.rpc.call('sessions.heartbeat', { session_id: assertSafeId('session id', id) });
  }

  @Delete(':id')
  deregister(@Param('id') id: string): Promise<SessionView> {
    return this.rpc.call('sessions.deregister', { session_id: assertSafeId('session id', id) });
  }
}
