import { Controller, Get, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { type AuditEntryView, ListAuditQuery } from '#contracts';
import { RpcClient } from '#bus';
import { Access } from '#platform';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';

@Controller('audit')
@ApiTags('access')
export class AuditController {
  constructor(private readonly rpc: RpcClient) {}

  @Access.admin()
  @Get()
  @ApiDoc(
    'The audit log, newest first: every admin and run request with its token`s sub, and the overrides',
    {
      400: 'a bad limit or before',
      503: UNAVAILABLE,
    },
  )
  list(@Query() query: ListAuditQuery): Promise<{ items: AuditEntryView[] }> {
    return this.rpc.call<{ items: AuditEntryView[] }>('audit.list', query);
  }
}
