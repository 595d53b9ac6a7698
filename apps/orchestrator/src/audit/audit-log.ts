import { Inject, Injectable } from '@nestjs/common';
import { type EntityManager } from 'typeorm';
import { InjectEntityManager } from '@nestjs/typeorm';
import { CLOCK, type Clock } from '#platform';
import { AuditEntryEntity } from './audit-entry.entity.js';

export interface AuditRecord {
  action: string;
  subjectType: 'trigger' | 'thread' | 'session';
  subjectId: string;
  reason?: string | null;
  details?: Record<string, unknown>;
}

/** Appends to `audit_log`; pass the transaction's manager to write with the change it explains. */
@Injectable()
export class AuditLog {
  constructor(
    @InjectEntityManager() private readonly manager: EntityManager,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async record(entry: AuditRecord, manager: EntityManager = this.manager): Promise<void> {
    await manager.insert(AuditEntryEntity, {
      at: this.clock.now(),
      action: entry.action,
      subjectType: entry.subjectType,
      subjectId: entry.subjectId,
      reason: entry.reason ?? null,
      details: entry.details ?? {},
    });
  }
}
