import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { jetstream } from '@nats-io/jetstream';
import { createEnvelope } from '#contracts';
import { eventually, LogCapture, ServiceProcess, TestEnv } from '#test-support';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';
import { BuildProjector } from '../../apps/orchestrator/src/builds/build-projector.js';
import { MAX_PENDING } from '../../apps/orchestrator/src/projections/jetstream-projection.js';

/** One for the file: nestjs-pino keeps the first application's logger for the whole process. */
const logs = new LogCapture();

/**
 * Issue 10 (3, 4): the projections against the real NATS and PostgreSQL under faults: a stream deleted and
 * made again, an orchestrator killed with SIGKILL mid-burst, a database that goes away, and an outage of the
 * orchestrator longer than a per-subject limit.
 */
describe('projections under faults', () => {
  let env: TestEnv;
  let orchestrator: INestApplicationContext | undefined;

  before(async () => {
    env = await TestEnv.create({ PROJECTION_CHECK_MS: '300', STREAM_MAX_MSGS_PER_SUBJECT: '20' });
  });
  after(() => env?.cleanup(orchestrator));
  const settings = () => logs.into(env.settings);
  const replacedReports = () => logs.matching(/the stream was deleted and made again/).length;

  const statusOf = async (buildId: string) =>
    (await env.query<{ status: string }>('SELECT status FROM builds WHERE build_id = $1', [buildId]))[0]
      ?.status;
  const position = async (projection: string) =>
    Number(
      (
        await env.query<{ last_seq: string }>(
          'SELECT last_seq FROM projection_positions WHERE projection = $1',
          [projection],
        )
      )[0]?.last_seq ?? 0,
    );

  const publishOutbox = (count: number, from = 0) => env.publishOutbox(from, count);
  const outboxRows = () =>
    env.query<{ id: string; seq: string; content: string }>(
      'SELECT id, seq, content FROM outbox_messages ORDER BY id',
    );

  async function recreateStream(role: 'builds' | 'outbox'): Promise<void> {
    const { jsm } = await env.nats();
    const name = env.subjects.streamName(role);
    const info = await jsm.streams.info(name);
    await jsm.streams.delete(name);
    await jsm.streams.add(info.config);
  }

  it('replays a stream deleted and made again while the orchestrator runs, loudly', async () => {
    orchestrator = await createOrchestrator(settings());
    for (let turn = 1; turn <= 5; turn++) await env.publishStatus('OLD', turn);
    await eventually(async () => ((await position('builds')) === 5 ? true : undefined));

    await recreateStream('builds');
    // the new stream starts again at sequence 1: b1–b3, then a completion
    await env.publishStatus('B1', 1);
    await env.publishStatus('B2', 1);
    await env.publishStatus('B3', 1);
    await env.publishStatus('B1', 2, { status: 'completed' });
    await eventually(async () => ((await statusOf('B1')) === 'completed' ? true : undefined), 10_000, 'B1');
    assert.equal(await statusOf('B2'), 'running');
    assert.equal(await statusOf('B3'), 'running');
    assert.equal(await position('builds'), 4);
    assert.equal(replacedReports(), 1, 'said so, once, as an error');
  });

  it('replays a stream made anew while the orchestrator was down (a lost NATS volume)', async () => {
    await orchestrator?.close();
    orchestrator = undefined;
    await recreateStream('builds');
    await env.publishStatus('B1', 1); // sequence 1 again: the old position (4) would skip it
    await env.publishStatus('B4', 1, { status: 'failed' });
    orchestrator = await createOrchestrator(settings());
    await eventually(async () => ((await statusOf('B4')) === 'failed' ? true : undefined), 10_000, 'B4');
    assert.equal(await statusOf('B1'), 'running', 'the new stream says B1 runs again');
    assert.equal(replacedReports(), 2);
    assert.deepEqual(
      logs.lines.filter((l) => !/made again/.test(l.msg)).map((l) => l.msg),
      [],
      'no other error',
    );
  });

  it('keeps the whole outbox backlog while the orchestrator is down (no per-subject limit on it)', async () => {
    await orchestrator?.close();
    orchestrator = undefined;
    await publishOutbox(50); // STREAM_MAX_MSGS_PER_SUBJECT is 20 here
    orchestrator = await createOrchestrator(settings());
    await eventually(async () => ((await outboxRows()).length === 50 ? true : undefined), 10_000, '50 rows');
    const rows = await outboxRows();
    assert.deepEqual(
      rows.map((r) => r.content),
      Array.from({ length: 50 }, (_, n) => `message ${n}`),
    );
  });

  it('holds at most a bounded number of events while PostgreSQL is away, and loses none', async () => {
    const projector = orchestrator!.get(BuildProjector);
    const at = await position('builds');
    await env.query(`ALTER DATABASE ${env.databaseName} CONNECTION LIMIT 0`);
    await env.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [env.databaseName],
    );
    try {
      for (let n = 0; n < 3000; n++) await env.publishStatus(`FLOOD-${n % 100}`, n);
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(
        projector.pendingCount <= MAX_PENDING,
        `${projector.pendingCount} events held (at most ${MAX_PENDING})`,
      );
    } finally {
      await env.query(`ALTER DATABASE ${env.databaseName} CONNECTION LIMIT -1`);
    }
    await eventually(
      async () => ((await position('builds')) === at + 3000 ? true : undefined),
      30_000,
      'catch-up',
    );
    const [{ count }] = await env.query<{ count: string }>(
      "SELECT count(*) FROM builds WHERE build_id LIKE 'FLOOD-%'",
    );
    assert.equal(count, '100');
  });

  it('stores outbox messages in stream order with no hole below its position when killed mid-burst', async () => {
    await orchestrator?.close();
    orchestrator = undefined;
    const before = (await outboxRows()).length;
    const first = ServiceProcess.start('orchestrator', env.processEnv());
    const burst = publishOutbox(3000, 1000);
    await eventually(async () => ((await outboxRows()).length > before + 300 ? true : undefined), 20_000);
    await first.kill();
    const second = ServiceProcess.start('orchestrator', env.processEnv());
    try {
      // while it catches up: every message at or below the stored position is there, none above it skipped
      let samples = 0;
      let rows = await outboxRows();
      while (rows.length < before + 3000) {
        const at = await position('outbox');
        const [{ below }] = await env.query<{ below: string }>(
          'SELECT count(*) AS below FROM outbox_messages WHERE seq <= $1',
          [at],
        );
        assert.equal(Number(below), at, `a hole below the position ${at}`);
        samples++;
        await new Promise((r) => setTimeout(r, 20));
        rows = await outboxRows();
        if (samples > 2000) assert.fail(`stuck at ${rows.length} rows`);
      }
      await burst;
      const seqs = rows.map((r) => Number(r.seq));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'ids follow stream order',
      );
      assert.equal(new Set(rows.map((r) => r.content)).size, rows.length, 'each message once');
    } finally {
      await second.kill();
    }
  });
});

describe('projections: retention that overtakes them', () => {
  it('reports outbox messages the stream dropped before they were stored, with their sequences', async () => {
    const env = await TestEnv.create({ OUTBOX_STREAM_MAX_BYTES: String(1024 * 1024) });
    const settings = () => logs.into(env.settings);
    let orchestrator: INestApplicationContext | undefined;
    try {
      const { nc } = await env.nats();
      const js = jetstream(nc);
      const publish = async (content: string) => {
        const envelope = createEnvelope({
          source_id: 'test',
          event_type: 'outbox_message',
          payload: { source: 'local', role: 'pipeline', content, truncated: false },
        });
        await js.publish(env.subjects.outbox('local', 'pipeline'), JSON.stringify(envelope));
      };
      orchestrator = await createOrchestrator(settings());
      await publish('first');
      await eventually(
        async () => (await env.query('SELECT 1 FROM outbox_messages')).length === 1 || undefined,
      );
      await orchestrator.close();
      orchestrator = undefined;
      // 2 MiB into a 1 MiB stream while nobody projects it: the oldest go
      for (let n = 0; n < 200; n++) await publish(`${n} ${'x'.repeat(10_000)}`);
      const { jsm } = await env.nats();
      const { state } = await jsm.streams.info(env.subjects.streamName('outbox'));
      assert.ok(state.first_seq > 2, 'the stream dropped messages');
      orchestrator = await createOrchestrator(settings());
      const [report] = await eventually(() => {
        const found = logs.matching(/removed from the stream before they were projected/);
        return found.length > 0 ? found : undefined;
      });
      assert.equal(report?.['from'], 2);
      assert.equal(report?.['to'], state.first_seq - 1);
      assert.equal(report?.['level'], 50);
      // every message the stream still holds is stored, and the gap was said once, not again by the first
      await eventually(async () => {
        const [{ count }] = await env.query<{ count: string }>('SELECT count(*) FROM outbox_messages');
        return Number(count) === 1 + state.messages || undefined;
      });
      assert.equal(logs.matching(/removed from the stream before they were projected/).length, 1);
    } finally {
      await env.cleanup(orchestrator);
    }
  });
});
