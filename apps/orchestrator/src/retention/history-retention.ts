import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';

const DAY_MS = 86_400_000;

/** What one pass deleted. */
export interface RetentionResult {
  triggers: number;
  attempts: number;
  audit: number;
  outbox: number;
}

/**
 * Keeps PostgreSQL's history bounded (issue 10): finished triggers with their attempts after
 * TRIGGER_RETENTION_DAYS, audit entries after AUDIT_RETENTION_DAYS, outbox messages after
 * OUTBOX_RETENTION_DAYS. A pass runs at start and then daily; it is idempotent, so several orchestrators
 * running it do no harm. A trigger still in flight is never deleted, however old.
 * (A timer rather than a BullMQ job scheduler: the pass needs PostgreSQL only, and must run without Redis.)
 */
@Injectable()
export class HistoryRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(HistoryRetention.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    const pass = () => {
      this.running ??= this.run()
        .catch((error: unknown) =>
          this.logger.warn({ err: (error as Error).message }, 'history retention failed; trying tomorrow'),
        )
        .finally(() => (this.running = undefined));
    };
    pass();
    this.timer = setInterval(pass, DAY_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async run(): Promise<RetentionResult> {
    const { triggerDays, auditDays, outboxDays } = this.settings.retention;
    const now = this.clock.now().getTime();
    const before = (days: number) => new Date(now - days * DAY_MS);
    const [{ triggers, attempts }] = await this.db.query<[{ triggers: number; attempts: number }]>(
      `WITH gone AS (
         DELETE FROM trigger_jobs
          WHERE state IN ('delivered', 'fallback_resume', 'fallback_spawn', 'failed') AND updated_at < $1
          RETURNING trigger_id)
       SELECT (SELECT count(*)::int FROM gone) AS triggers,
              (SELECT count(*)::int FROM trigger_attempts WHERE trigger_id IN (SELECT trigger_id FROM gone)) AS attempts`,
      [before(triggerDays)],
    );
    const audit = await this.deleteOlder('audit_log', 'at', before(auditDays));
    const outbox = await this.deleteOlder('outbox_messages', 'created_at', before(outboxDays));
    const result = { triggers, attempts, audit, outbox };
    if (triggers + audit + outbox > 0) this.logger.log(result, 'old history deleted');
    return result;
  }

  private async deleteOlder(table: string, column: string, cutoff: Date): Promise<number> {
    const [{ count }] = await this.db.query<[{ count: number }]>(
      `WITH gone AS (DELETE FROM ${table} WHERE ${column} < $1 RETURNING 1) SELECT count(*)::int AS count FROM gone`,
      [cutoff],
    );
    return count;
  }
}
