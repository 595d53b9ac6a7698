import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Test } from '@nestjs/testing';
import { Logger } from 'nestjs-pino';
import type { INestApplication } from '@nestjs/common';
import type { PubAck } from '@nats-io/jetstream';
import {
  BusUnavailableError,
  type Envelope,
  type TriggerCreated,
  type TriggerStatusPayload,
} from '#contracts';
import { EventPublisher, type PublishOptions } from '#bus';
import { OrchestratorModule } from '../../apps/orchestrator/src/orchestrator.module.js';
import { MemoryAdapter } from '../../apps/orchestrator/src/triggers/delivery/memory-adapter.js';
import { HistoryRetention } from '../../apps/orchestrator/src/retention/history-retention.js';
import { TriggerDispatcher } from '../../apps/orchestrator/src/triggers/trigger-dispatcher.js';
import { TriggerQueue } from '../../apps/orchestrator/src/triggers/trigger-queue.js';
import {
  type AttemptOutcome,
  type TriggerChange,
  TriggerLedger,
} from '../../apps/orchestrator/src/triggers/trigger-ledger.js';
import type {
  TriggerAttemptEntity,
  TriggerJobEntity,
} from '../../apps/orchestrator/src/triggers/trigger.entities.js';
import { eventually, TestEnv } from '#test-support';

/**
 * SPEC 5 and issue 10: a trigger is delivered once, whatever fails after the delivery. The orchestrator runs
 * in this process with an in-memory delivery adapter (it counts deliveries) and stand-ins at its two
 * boundaries: a publisher that leaves publishes unacknowledged (NATS restarting) and a ledger whose
 * `settle` fails at a chosen point (PostgreSQL failing before or after its commit).
 */

/** Publishes for real unless told to fail; `failing` counts down the publishes to refuse. */
class FlakyPublisher extends EventPublisher {
  static failing = 0;
  static refused = 0;

  override async publish(
    subject: string,
    envelope: Envelope<object>,
    options: PublishOptions,
  ): Promise<PubAck> {
    if (FlakyPublisher.failing > 0) {
      FlakyPublisher.failing -= 1;
      FlakyPublisher.refused += 1;
      throw new BusUnavailableError(`publish to ${subject} not acknowledged (stand-in)`);
    }
    return super.publish(subject, envelope, options);
  }
}

/** Settles for real, but fails the next `failBefore` calls before writing and `failAfter` calls after it. */
class FlakyLedger extends TriggerLedger {
  static failBefore = 0;
  static failAfter = 0;

  override async settle(
    attempt: TriggerAttemptEntity,
    outcome: AttemptOutcome,
    trigger: TriggerJobEntity,
    change: TriggerChange,
  ): Promise<void> {
    if (FlakyLedger.failBefore > 0) {
      FlakyLedger.failBefore -= 1;
      throw new Error('connection terminated unexpectedly (stand-in, before the commit)');
    }
    await super.settle(attempt, outcome, trigger, change);
    if (FlakyLedger.failAfter > 0) {
      FlakyLedger.failAfter -= 1;
      // the commit went through, but its answer was lost: the caller cannot tell it apart from a failure
      throw new Error('connection terminated unexpectedly (stand-in, after the commit)');
    }
  }
}

/** Queues for real unless told to fail (Redis away); `failing` counts down the calls to refuse. */
class FlakyQueue extends TriggerQueue {
  static failing = 0;

  override async add(triggerId: string): Promise<void> {
    if (FlakyQueue.failing > 0) {
      FlakyQueue.failing -= 1;
      throw new Error('connect ECONNREFUSED 127.0.0.1:6379 (stand-in)');
    }
    await super.add(triggerId);
  }
}

describe('triggers: delivered exactly once when what follows the delivery fails', () => {
  let env: TestEnv;
  let app: INestApplication;
  const adapter = new MemoryAdapter();

  before(async () => {
    env = await TestEnv.create({
      TRIGGER_BACKOFF_MS: '20',
      TRIGGER_BACKOFF_MAX_MS: '50',
      TRIGGER_RECORD_RETRY_MS: '1000',
      TRIGGER_SWEEP_MS: '100',
      TRIGGER_SPAWN_COMMAND: 'true',
    });
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot(env.settings, { deliveryAdapter: adapter })],
    })
      .overrideProvider(EventPublisher)
      .useClass(FlakyPublisher)
      .overrideProvider(TriggerLedger)
      .useClass(FlakyLedger)
      .overrideProvider(TriggerQueue)
      .useClass(FlakyQueue)
      .compile();
    app = moduleRef.createNestApplication({ bufferLogs: true });
    app.useLogger(app.get(Logger));
    await app.init();
  });
  after(async () => {
    await env?.cleanup(app);
  });

  let sessions = 0;
  const call = async (method: string, body: object) => {
    const { nc } = await env.nats();
    const reply = await nc.request(env.subjects.rpc(method as never), JSON.stringify(body), {
      timeout: 5000,
    });
    const answer = reply.json<{ ok: boolean; result: unknown; error?: unknown }>();
    assert.ok(answer.ok, JSON.stringify(answer.error));
    return answer.result;
  };

  async function createDelivering(extra: object = {}): Promise<string> {
    const agent = `agent-${++sessions}`;
    await call('sessions.register', {
      workspace_id: 'ws',
      agent_id: agent,
      runtime: 'tmux',
      tmux_target: agent,
      managed: true,
      resumable: false,
    });
    const created = (await call('triggers.create', {
      workspace_id: 'ws',
      thread_id: agent,
      target_agent_id: agent,
      reason: 'r',
      prompt: `wake ${agent}`,
      ...extra,
    })) as TriggerCreated;
    assert.equal(created.decision, 'deliver');
    return created.trigger_id;
  }

  const deliveriesOf = (agent: string) =>
    adapter.delivered.filter((d) => d.target.tmuxTarget === agent && d.text === `wake ${agent}`).length;
  const row = async (id: string) =>
    (
      await env.query<{ state: string; last_error_code: string | null }>(
        'SELECT state, last_error_code FROM trigger_jobs WHERE trigger_id = $1',
        [id],
      )
    )[0];
  const attempts = (id: string) =>
    env.query<{ step: string; result: string; error_code: string | null }>(
      'SELECT step, result, error_code FROM trigger_attempts WHERE trigger_id = $1 ORDER BY attempt',
      [id],
    );
  const publishedStates = async (id: string) =>
    (await env.storedOn(env.subjects.triggerStatus(id), env.subjects.streamName('triggers'))).map(
      (m) => (JSON.parse(m.data) as Envelope<TriggerStatusPayload>).payload.state,
    );

  it('publishes nothing unacknowledged twice and delivers once while NATS does not acknowledge', async () => {
    FlakyPublisher.failing = 4;
    const id = await createDelivering();
    await eventually(async () => ((await row(id))?.state === 'delivered' ? true : undefined));
    assert.equal(deliveriesOf(`agent-${sessions}`), 1);
    await eventually(async () => ((await publishedStates(id)).length === 3 ? true : undefined));
    assert.ok(FlakyPublisher.refused >= 4, 'the stand-in refused publishes');
    assert.deepEqual(await publishedStates(id), ['queued', 'triggering', 'delivered']);
    const [{ count }] = await env.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM unpublished_events',
    );
    assert.equal(count, 0, 'the relay emptied its outbox');
  });

  it('delivers once when PostgreSQL fails before the outcome is committed, and records it once it answers', async () => {
    FlakyLedger.failBefore = 3;
    const id = await createDelivering();
    await eventually(async () => ((await row(id))?.state === 'delivered' ? true : undefined));
    assert.equal(deliveriesOf(`agent-${sessions}`), 1);
    assert.deepEqual(await attempts(id), [{ step: 'deliver', result: 'delivered', error_code: null }]);
  });

  it('delivers once when the commit of the outcome went through but its answer was lost', async () => {
    FlakyLedger.failAfter = 1;
    const id = await createDelivering();
    await eventually(async () => ((await row(id))?.state === 'delivered' ? true : undefined));
    await new Promise((r) => setTimeout(r, 300)); // a retry, if one were coming, would have run by now
    assert.equal(deliveriesOf(`agent-${sessions}`), 1);
    assert.deepEqual(await attempts(id), [{ step: 'deliver', result: 'delivered', error_code: null }]);
  });

  it('never delivers again when the outcome cannot be recorded at all: OUTCOME_UNKNOWN in triggers-dead', async () => {
    FlakyLedger.failBefore = 1_000_000; // longer than TRIGGER_RECORD_RETRY_MS
    const id = await createDelivering();
    await eventually(() => (deliveriesOf(`agent-${sessions}`) === 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500)); // past TRIGGER_RECORD_RETRY_MS: the job fails and retries
    FlakyLedger.failBefore = 0; // PostgreSQL is back
    await eventually(async () => ((await row(id))?.state === 'failed' ? true : undefined), 10_000);
    assert.equal(deliveriesOf(`agent-${sessions}`), 1, 'the retry did not type the prompt again');
    assert.equal((await row(id))?.last_error_code, 'OUTCOME_UNKNOWN');
    // failed jobs and dead letters are kept bounded (Redis is noeviction)
    const queue = app.get(TriggerQueue);
    const keep = { age: 30 * 86_400, count: 10_000 };
    assert.deepEqual((await queue.triggers.getJob(id))?.opts.removeOnFail, keep);
    const dead = await eventually(() => queue.dead.getJob(id));
    assert.deepEqual(dead.opts.removeOnFail, keep);
    assert.deepEqual(await attempts(id), [
      { step: 'deliver', result: 'interrupted', error_code: 'OUTCOME_UNKNOWN' },
    ]);
  });

  it('answers a create once it is committed, and queues it when Redis answers again', async () => {
    FlakyQueue.failing = 3; // the queueing right after the commit, and two sweeps
    const id = await createDelivering();
    await eventually(async () => ((await row(id))?.state === 'delivered' ? true : undefined));
    assert.equal(FlakyQueue.failing, 0);
    assert.equal(deliveriesOf(`agent-${sessions}`), 1);
  });

  it('answers the same request sent again (its answer was lost) with the trigger it created', async () => {
    const body = {
      workspace_id: 'ws',
      thread_id: 'retried',
      target_agent_id: 'nobody',
      reason: 'r',
      prompt: 'p',
      request_id: 'req-1',
    };
    const first = (await call('triggers.create', body)) as TriggerCreated;
    const again = (await call('triggers.create', body)) as TriggerCreated;
    assert.equal(again.trigger_id, first.trigger_id);
    assert.equal(again.created, true, 'the request did create it');
    const rows = await env.query(`SELECT 1 FROM trigger_jobs WHERE thread_id = 'retried'`);
    assert.equal(rows.length, 1);
  });

  it('deletes finished history past its retention, and never a trigger in flight', async () => {
    const old = new Date(Date.now() - 400 * 86_400_000);
    const insertTrigger = (id: string, state: string, at: Date) =>
      env.query(
        // enqueued_at set: the dispatcher leaves these rows to the test
        `INSERT INTO trigger_jobs (trigger_id, workspace_id, thread_id, target_agent_id, reason, prompt, decision,
                                   step, state, version, created_at, updated_at, enqueued_at)
         VALUES ($1, 'ws', 'old', 'a', 'r', 'p', 'spawn', 'spawn', $2, 1, $3, $3, $3)`,
        [id, state, at],
      );
    await insertTrigger('old-failed', 'failed', old);
    await insertTrigger('old-queued', 'queued', old);
    await insertTrigger('new-failed', 'failed', new Date());
    await env.query(
      `INSERT INTO trigger_attempts (trigger_id, attempt, step, result, details, started_at)
       VALUES ('old-failed', 1, 'spawn', 'failed', '{}', $1), ('new-failed', 1, 'spawn', 'failed', '{}', now())`,
      [old],
    );
    await env.query(
      `INSERT INTO audit_log (at, action, subject_type, subject_id) VALUES ($1, 'old', 'thread', 't'), (now(), 'new', 'thread', 't')`,
      [old],
    );
    await env.query(
      `INSERT INTO outbox_messages (message_id, seq, source, role, content, created_at)
       VALUES ('old-m', 1, 'local', 'pipeline', 'old', $1), ('new-m', 2, 'local', 'pipeline', 'new', now())`,
      [old],
    );
    const result = await app.get(HistoryRetention).run();
    assert.deepEqual(result, { triggers: 1, attempts: 1, audit: 1, outbox: 1 });
    const ids = (
      await env.query<{ trigger_id: string }>("SELECT trigger_id FROM trigger_jobs WHERE thread_id = 'old'")
    )
      .map((r) => r.trigger_id)
      .sort();
    assert.deepEqual(ids, ['new-failed', 'old-queued']);
    assert.deepEqual(await app.get(HistoryRetention).run(), {
      triggers: 0,
      attempts: 0,
      audit: 0,
      outbox: 0,
    });
  });

  it('queues again, at start, a trigger whose job Redis lost', async () => {
    // committed and queued once, but the job is gone (Redis lost its data, or was replaced)
    await env.query(
      `INSERT INTO trigger_jobs (trigger_id, workspace_id, thread_id, target_agent_id, reason, prompt, decision,
                                 step, state, version, created_at, updated_at, enqueued_at)
       VALUES ('lost-job', 'ws', 'lost', 'nobody', 'r', 'p', 'spawn', 'spawn', 'queued', 1, now(), now(), now())`,
    );
    await app.get(TriggerDispatcher).reconcile();
    await eventually(async () => ((await row('lost-job'))?.state === 'fallback_spawn' ? true : undefined));
  });
});
