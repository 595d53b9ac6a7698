import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type Repository } from 'typeorm';
import {
  BUILD_PAGE_DEFAULT,
  type BuildPage,
  type BuildView,
  GetBuildQuery,
  ListBuildsQuery,
  NotFoundError,
  TERMINAL_BUILD_STATUSES,
  ValidationError,
} from '#contracts';
import { RpcServer } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { BuildEntity } from './build.entity.js';

/** Answers the gateway's build queries (`guardkit.rpc.builds.*`) from the projection. */
@Injectable()
export class BuildQueries implements OnModuleInit {
  constructor(
    private readonly rpc: RpcServer,
    @InjectRepository(BuildEntity) private readonly builds: Repository<BuildEntity>,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('builds.list', ListBuildsQuery, (query) => this.list(query));
    this.rpc.serve('builds.get', GetBuildQuery, (query) => this.get(query.build_id));
  }

  /** Most recently active first; the cursor is the position of the last item, so pages never overlap. */
  async list(query: ListBuildsQuery): Promise<BuildPage> {
    const limit = query.limit ?? BUILD_PAGE_DEFAULT;
    const qb = this.builds
      .createQueryBuilder('b')
      .orderBy('b.last_seq', 'DESC')
      .limit(limit + 1);
    if (query.status) qb.andWhere('b.status = :status', { status: query.status });
    if (query.cursor !== undefined)
      qb.andWhere('b.last_seq < :before', { before: decodeCursor(query.cursor) });
    const rows = await qb.getMany();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => this.toView(row)),
      next_cursor: rows.length > limit && last ? encodeCursor(last.lastSeq) : null,
    };
  }

  async get(buildId: string): Promise<BuildView> {
    const row = await this.builds.findOneBy({ buildId });
    if (!row) throw new NotFoundError(`no build ${buildId}`);
    return this.toView(row);
  }

  private toView(row: BuildEntity): BuildView {
    const quietFor = this.clock.now().getTime() - row.receivedAt.getTime();
    return {
      build_id: row.buildId,
      status: row.status,
      progress_pct: row.progressPct,
      project: row.project,
      started_at: row.startedAt?.toISOString() ?? null,
      updated_at: row.updatedAt.toISOString(),
      received_at: row.receivedAt.toISOString(),
      stale: !TERMINAL_BUILD_STATUSES.has(row.status) && quietFor > this.settings.buildStaleMinutes * 60_000,
      last_event_id: row.lastSeq,
      latest: row.latest,
    };
  }
}

function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const seq = /^s(\d{1,16})$/.exec(text)?.[1];
  if (seq === undefined) throw new ValidationError('cursor is not one this service issued', ['cursor']);
  return Number(seq);
}
