import { Module } from '@nestjs/common';
import { AuditLog } from './audit-log.js';
import { AuditService } from './audit-service.js';

/** The audit log and its RPC methods (`audit.record`, `audit.list`). */
@Module({ providers: [AuditLog, AuditService], exports: [AuditLog] })
export class AuditModule {}
