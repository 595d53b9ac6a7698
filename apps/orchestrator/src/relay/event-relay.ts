import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { Envelope } from '#contracts';
import { EventPublisher } from '#bus';

/** How long the relay sleeps when it has nothing to do and nobody woke it (rows committed by another instance). */
const IDLE_POLL_MS = 1000;
/** Rows published per transaction. */
const BATCH = 100;
/**
 * Rows below the last id published minus this are not looked at (except on an idle pass): published rows
 * leave dead index entries that an `ORDER BY id` from the start would walk through on every pass until
 * vacuum, while a transaction that took an id earlier than one already published commits at most a few
 * hundred ids later.
 */
const ID_WINDOW = 1000;
/** An advisory lock key (per database): one relay publishes at a time, so events keep their commit order. */
const RELAY_LOCK = 0x67_6b_72_6c; // "gkrl"

/**
 * The orchestrator's transactional outbox. An event the orchestrator announces (a trigger's state change) is
 * written to `unpublished_events` in the same transaction as the state it reports, and this relay publishes
 * it to JetStream afterwards, in commit order per subject, deleting each row once NATS acknowledged it. So a state is
 * published if and only if it was committed, and a NATS outage delays events instead of failing the work
 * that caused them. A row published but not deleted (PostgreSQL failed in between) is sent again with the
 * same `Nats-Msg-Id`, which JetStream stores once within its duplicate window.
 */
@Injectable()
export class EventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(EventRelay.name);
  private wake?: () => void;
  private woken = false;
  private stopping = false;
  private running?: Promise<void>;
  private failing = false;
  /** The last id this relay published: where the next pass looks from (less ID_WINDOW). */
  private lastId = 0;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly publisher: EventPublisher,
  ) {}

  /** Adds an event to the outbox, inside the caller's transaction; call `notify()` once it has committed. */
  async record(tx: EntityManager, subject: string, envelope: Envelope<object>, msgId: string): Promise<void> {
    await tx.query(this.insertSql('$1', '$2', '$3'), [subject, msgId, JSON.stringify(envelope)]);
  }

  /** The INSERT of one event, for a caller that writes it in a statement of its own (a CTE's main query). */
  insertSql(subject: string, msgId: string, envelope: string): string {
    return `INSERT INTO unpublished_events (subject, msg_id, envelope) VALUES (${subject}, ${msgId}, ${envelope})`;
  }

  /** Something was committed: publish it now rather than at the next poll. */
  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  onApplicationBootstrap(): void {
    this.running = this.run();
  }

  /**
   * After the workers have stopped (they close one phase earlier), a last pass publishes what they committed;
   * whatever cannot go out now stays recorded and goes out at the next start.
   */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let delay = 0;
    while (!this.stopping) {
      if (delay > 0) {
        await sleep(delay);
      } else if (!this.woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, IDLE_POLL_MS); // no timer left behind when woken first
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      const woke = this.woken;
      this.woken = false;
      try {
        // an idle pass asks first, in one round trip, whether anything waits (a transaction is four)
        const { more } =
          woke || (await this.anyRecorded())
            ? await this.drainOnce(woke ? Math.max(0, this.lastId - ID_WINDOW) : 0)
            : { more: false };
        delay = 0;
        if (this.failing) {
          this.failing = false;
          this.logger.log('publishing recorded events again');
        }
        if (more) this.woken = true;
      } catch (error) {
        delay = Math.min(Math.max(delay * 2, 100), 2000);
        if (!this.failing) {
          this.failing = true;
          this.logger.warn(
            { err: error instanceof Error ? error.message : String(error) },
            'cannot publish recorded events yet; they wait in unpublished_events and are retried',
          );
        }
      }
    }
    // a last pass on the way out, so what was committed just before a stop is not left for the next start
    await this.drainOnce().catch(() => undefined);
  }

  private async anyRecorded(): Promise<boolean> {
    const [{ waiting }] = await this.db.query<[{ waiting: boolean }]>(
      'SELECT EXISTS (SELECT 1 FROM unpublished_events) AS waiting',
    );
    return waiting;
  }

  /** One transaction: take the relay lock, publish the oldest rows in order, delete what was acknowledged. */
  private async drainOnce(fromId = 0): Promise<{ published: number; more: boolean }> {
    const outcome = await this.db.transaction(async (tx) => {
      const [{ locked }] = await tx.query<[{ locked: boolean }]>(
        'SELECT pg_try_advisory_xact_lock($1) AS locked',
        [RELAY_LOCK],
      );
      if (!locked) return { published: 0, more: false, failure: undefined }; // another instance publishes
      const rows = await tx.query<
        { id: string; subject: string; msg_id: string; envelope: Envelope<object> }[]
      >('SELECT id, subject, msg_id, envelope FROM unpublished_events WHERE id > $1 ORDER BY id LIMIT $2', [
        fromId,
        BATCH,
      ]);
      // Each subject's events go out one after the other, in commit order; different subjects' at once. So a
      // subject never sees a later event before an earlier one (a failed publish stops its subject's chain),
      // without a round trip per event for the whole batch.
      const chains = new Map<string, typeof rows>();
      for (const row of rows) {
        const chain = chains.get(row.subject);
        if (chain) chain.push(row);
        else chains.set(row.subject, [row]);
      }
      const done: string[] = [];
      let failure: Error | undefined;
      await Promise.all(
        [...chains.values()].map(async (chain) => {
          for (const row of chain) {
            try {
              await this.publisher.publish(row.subject, row.envelope, { msgId: row.msg_id });
              done.push(row.id);
            } catch (error) {
              failure ??= error instanceof Error ? error : new Error(String(error));
              return;
            }
          }
        }),
      );
      if (done.length > 0) {
        await tx.query('DELETE FROM unpublished_events WHERE id = ANY($1)', [done]);
        this.lastId = Math.max(this.lastId, ...done.map(Number));
      }
      return { published: done.length, more: rows.length === BATCH, failure };
    });
    // the deletes of what went out are committed; the rest is retried from where it stopped
    if (outcome.failure) throw outcome.failure;
    return outcome;
  }
}
