import { Inject, Injectable } from '@nestjs/common';
import { type EntityManager } from 'typeorm';
import { InjectEntityManager } from '@nestjs/typeorm';
import { CLOCK, type Clock } from '#platform';
import { AuditEntryEntity } from './audit-entry.entity.js';

export interface AuditRecord {
  action: string;
  subjectType: 'trigger' | 'thread' | 'session' | 'request';
  subjectId: string;
  reason?: string | null;
  details?: Record<string, unknown>;
  actor?: string | null;
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
      actor: entry.actor ?? null,
    });
  }

  /** Newest first, below `before` (an id) when given. */
  async list(limit: number, before?: string): Promise<AuditEntryEntity[]> {
    const query = this.manager
      .getRepository(AuditEntryEntity)
      .createQueryBuilder('a')
      .orderBy('a.id', 'DESC')
      .limit(limit);
    if (before !== undefined) query.where('a.id < :before', { before });
    return query.getMany();
  }
}
