import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type Repository } from 'typeorm';
import { ListOutboxQuery, type OutboxMessageView } from '#contracts';
import { RpcServer } from '#bus';
import { OutboxMessageEntity } from './outbox-message.entity.js';

export const OUTBOX_LIST_DEFAULT = 50;

/** `guardkit.rpc.outbox.list`: the newest N messages, oldest first (AutoAppDev's `GET /api/outbox`). */
@Injectable()
export class OutboxQueries implements OnModuleInit {
  constructor(
    private readonly rpc: RpcServer,
    @InjectRepository(OutboxMessageEntity) private readonly messages: Repository<OutboxMessageEntity>,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('outbox.list', ListOutboxQuery, (query) => this.list(query));
  }

  async list(query: ListOutboxQuery): Promise<{ messages: OutboxMessageView[] }> {
    const rows = await this.messages.find({
      where: query.source ? { source: query.source } : {},
      order: { id: 'DESC' },
      take: query.limit ?? OUTBOX_LIST_DEFAULT,
    });
    return {
      messages: rows.reverse().map((row) => ({
        id: Number(row.id),
        seq: row.seq,
        role: row.role,
        content: row.content,
        created_at: row.createdAt.toISOString(),
        source: row.source,
        truncated: row.truncated,
        file_ts: row.fileTs?.toISOString() ?? null,
      })),
    };
  }
}
