import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '#platform';
import { TriggerLedger } from './trigger-ledger.js';
import { TriggerQueue } from './trigger-queue.js';

/** Triggers queued per sweep; the next sweep takes the rest. */
const SWEEP_BATCH = 500;

/**
 * Puts committed triggers on the `triggers` queue. A trigger is queued right after its commit, and every
 * TRIGGER_SWEEP_MS the dispatcher queues whatever is committed but not known to be queued (Redis was down, or
 * the service stopped in between), so a trigger that exists is always worked, and a create never fails
 * because Redis did. Queueing is idempotent (the job id is the trigger id).
 */
@Injectable()
export class TriggerDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TriggerDispatcher.name);
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private failing = false;
  /** Queued triggers whose `enqueued_at` is written together, a moment later (one statement for many). */
  private readonly marks = new Set<string>();
  private marking?: Promise<void>;

  constructor(
    private readonly ledger: TriggerLedger,
    private readonly queue: TriggerQueue,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    const sweepNow = () => {
      this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    };
    this.sweeping = this.reconcile().finally(() => (this.sweeping = undefined));
    this.timer = setInterval(sweepNow, this.settings.triggers.sweepMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
    await this.flushMarks();
  }

  /**
   * Queues the trigger now; if that fails, the sweep does it later. `created`: the trigger was just committed,
   * so it cannot have a job yet and is simply added.
   */
  dispatchSoon(triggerId: string, created = false): void {
    this.dispatch(triggerId, created).catch((error: unknown) => this.report(error));
  }

  async dispatch(triggerId: string, created = false): Promise<void> {
    if (created) await this.queue.add(triggerId);
    else await this.queue.ensureQueued(triggerId);
    this.marks.add(triggerId);
    this.marking ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushMarks());
    if (this.failing) {
      this.failing = false;
      this.logger.log('queueing triggers again');
    }
  }

  private async flushMarks(): Promise<void> {
    const ids = [...this.marks];
    this.marks.clear();
    this.marking = undefined;
    // not marked (PostgreSQL away): the sweep queues them again, which changes nothing for a queued job
    if (ids.length > 0) await this.ledger.markEnqueued(ids).catch((error: unknown) => this.report(error));
  }

  /**
   * At start: every trigger not finished has a job (Redis may have lost its data, or been replaced). Jobs
   * that exist are left as they are; a lost one is added again (and a hop it left open is reported, not
   * repeated: see TriggerProcessor).
   */
  async reconcile(): Promise<void> {
    try {
      let after = '';
      let count = 0;
      for (;;) {
        const batch = await this.ledger.unfinished(after, SWEEP_BATCH);
        for (const triggerId of batch) await this.dispatch(triggerId);
        count += batch.length;
        if (batch.length < SWEEP_BATCH) break;
        after = batch.at(-1) ?? after;
      }
      if (count > 0) this.logger.log({ count }, 'unfinished triggers checked against their queue');
    } catch (error) {
      this.report(error);
    }
  }

  /** Queues what is committed but not queued. */
  async sweep(): Promise<void> {
    try {
      const waiting = await this.ledger.unqueued(SWEEP_BATCH);
      for (const triggerId of waiting) await this.dispatch(triggerId);
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(
      { err: error instanceof Error ? error.message : String(error) },
      'cannot queue triggers yet (Redis or PostgreSQL unavailable); they are queued once it answers',
    );
  }
}
