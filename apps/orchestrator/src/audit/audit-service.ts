import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type AuditEntryView, ListAuditQuery, RecordAuditDto } from '#contracts';
import { RpcServer } from '#bus';
import { AuditLog } from './audit-log.js';

/** The audit log over NATS: the gateway records the admin and run requests it answered, and lists the log. */
@Injectable()
export class AuditService implements OnModuleInit {
  constructor(
    private readonly rpc: RpcServer,
    private readonly audit: AuditLog,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('audit.record', RecordAuditDto, async (entry) => {
      await this.audit.record({
        action: entry.action,
        subjectType: 'request',
        subjectId: entry.path,
        actor: entry.actor ?? null,
        details: { status: entry.status, params: entry.params },
      });
      return { ok: true };
    });
    this.rpc.serve('audit.list', ListAuditQuery, async (query) => {
      const rows = await this.audit.list(query.limit ?? 50, query.before);
      return {
        items: rows.map((row): AuditEntryView => ({
          id: row.id,
          at: row.at.toISOString(),
          actor: row.actor,
          action: row.action,
          subject_type: row.subjectType,
          subject_id: row.subjectId,
          reason: row.reason,
          details: row.details,
        })),
      };
    });
  }
}
