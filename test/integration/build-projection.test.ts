import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { jetstream } from '@nats-io/jetstream';
import { type BuildStatusPayload, progressPercent } from '#contracts';
import { ManualClock } from '#platform';
import { ServiceMetrics } from '#health';
import { eventually, progressUpdate, TestEnv } from '#test-support';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';

/** The orchestrator alone, fed by publishing envelopes straight onto the stream. */
describe('build projection into PostgreSQL', () => {
  let env: TestEnv;
  let orchestrator: INestApplicationContext | undefined;

  before(async () => {
    env = await TestEnv.create();
    orchestrator = await createOrchestrator(env.settings);
  });
  after(() => env?.cleanup(orchestrator));

  const publish = (buildId: string, turn: number, overrides: Partial<BuildStatusPayload> = {}) =>
    env.publishStatus(buildId, turn, overrides);
  const builds = () =>
    env.query<{ build_id: string; status: string; last_seq: string; progress_pct: number; turn: number }>(
      `SELECT build_id, status, last_seq, progress_pct, (latest->>'turn')::int AS turn FROM builds ORDER BY build_id`,
    );
  const position = async () =>
    Number(
      (await env.query<{ last_seq: string }>(`SELECT last_seq FROM projection_positions`))[0]?.last_seq ?? 0,
    );

  it('keeps the latest status of each build and its position, in the same database', async () => {
    await publish('P-A', 1);
    await publish('P-B', 1);
    const last = await publish('P-A', 2, { status: 'completed' });
    await eventually(async () => ((await position()) === last ? true : undefined));
    const rows = await builds();
    assert.deepEqual(
      rows.map((r) => [r.build_id, r.status, r.turn, Number(r.last_seq)]),
      [
        ['P-A', 'completed', 2, last],
        ['P-B', 'running', 1, last - 1],
      ],
    );
  });

  it('under a steady stream of events, one statement carries many of them (PROJECTION_BATCH_MS)', async () => {
    const statements = async () => {
      const text = await orchestrator!.get(ServiceMetrics).scrape();
      const count = /^guardkit_projection_statement_events_count\{projection="builds"\} (\d+)$/m.exec(text);
      return Number(count?.[1] ?? 0);
    };
    const before = await statements();
    let last = 0;
    for (let i = 1; i <= 60; i++) {
      last = await publish(`P-STEADY-${i % 20}`, i);
      await sleep(1); // one at a time, as agents write: without the wait, one statement each
    }
    await eventually(async () => ((await position()) === last ? true : undefined));
    const used = (await statements()) - before;
    assert.ok(used >= 1 && used <= 20, `60 events took ${used} statements`);
    const rows = (await builds()).filter((r) => r.build_id.startsWith('P-STEADY-'));
    assert.equal(rows.length, 20);
    assert.ok(
      rows.every((r) => r.turn > 40),
      'each build holds its newest event',
    );
  });

  it('skips events that are not valid build status envelopes, and goes on', async () => {
    const { nc } = await env.nats();
    const js = jetstream(nc);
    await js.publish(env.subjects.buildStatus('P-BAD'), 'not json');
    await js.publish(env.subjects.buildStatus('P-BAD'), JSON.stringify({ payload: { status: 'running' } }));
    await publish('P-BAD', 1, { updated_at: '2026-13-45T99:00:00Z' }); // passes the pattern, PostgreSQL refuses it
    await publish('P-WRONG', 1, { build_id: 'SOMEONE-ELSE' });
    const good = await publish('P-GOOD', 1);
    await eventually(async () => ((await position()) === good ? true : undefined));
    const ids = (await builds()).map((r) => r.build_id);
    assert.ok(ids.includes('P-GOOD'));
    assert.ok(!ids.includes('P-BAD') && !ids.includes('P-WRONG') && !ids.includes('SOMEONE-ELSE'));
  });

  it('builds a new database from the stream by itself', async () => {
    const before = await builds();
    const at = await position();
    assert.ok(before.length > 0 && at > 0);
    await orchestrator!.close();
    await env.dropDatabase(); // the consumer has acknowledged everything; the database is empty and new
    orchestrator = await createOrchestrator(env.settings);
    await eventually(async () => ((await position()) === at ? true : undefined));
    assert.deepEqual(await builds(), before);
  });

  it('catches up when the database is restored from a backup older than the consumer', async () => {
    await publish('R-A', 1);
    const last = await publish('R-A', 2);
    await eventually(async () => ((await position()) === last ? true : undefined));
    const before = await builds();
    await orchestrator!.close();
    // The backup was taken before R-A existed: its rows and position are older than what the consumer acked.
    await env.query(`DELETE FROM builds WHERE build_id = 'R-A'`);
    await env.query(`UPDATE projection_positions SET last_seq = $1`, [last - 2]);
    orchestrator = await createOrchestrator(env.settings);
    await eventually(async () => ((await position()) === last ? true : undefined));
    assert.deepEqual(await builds(), before);
  });

  it('applies a replay without changing anything (idempotent), and never lets an older event win', async () => {
    const rowsBefore = await builds();
    await orchestrator!.close();
    await env.query(`UPDATE projection_positions SET last_seq = 1`); // events 2.. will be delivered again
    orchestrator = await createOrchestrator(env.settings);
    const next = await publish('R-A', 3);
    await eventually(async () => ((await position()) === next ? true : undefined));
    const rows = await builds();
    const turn3 = progressPercent({ ...progressUpdate(3), status: 'running' });
    const expected = rowsBefore.map((r) =>
      r.build_id === 'R-A' ? { ...r, turn: 3, last_seq: String(next), progress_pct: turn3 } : r,
    );
    assert.deepEqual(rows, expected, 'the replayed events changed nothing; only the new one did');
  });

  it('answers build queries over NATS request/reply with the documented reply shape', async () => {
    const { nc } = await env.nats();
    const reply = (
      await nc.request(env.subjects.rpc('builds.get'), JSON.stringify({ build_id: 'R-A' }))
    ).json<{
      ok: boolean;
      result: { build_id: string; last_event_id: number };
    }>();
    assert.equal(reply.ok, true);
    assert.equal(reply.result.build_id, 'R-A');
    const missing = (
      await nc.request(env.subjects.rpc('builds.get'), JSON.stringify({ build_id: 'NOPE' }))
    ).json<{
      ok: boolean;
      error: { code: string };
    }>();
    assert.deepEqual([missing.ok, missing.error.code], [false, 'NOT_FOUND']);
    const invalid = (
      await nc.request(env.subjects.rpc('builds.get'), JSON.stringify({ build_id: 'a.b' }))
    ).json<{
      ok: boolean;
      error: { code: string };
    }>();
    assert.deepEqual([invalid.ok, invalid.error.code], [false, 'INVALID_PAYLOAD']);
    const garbage = (await nc.request(env.subjects.rpc('builds.list'), 'not json')).json<{
      ok: boolean;
      error: { code: string };
    }>();
    assert.deepEqual([garbage.ok, garbage.error.code], [false, 'INVALID_PAYLOAD']);
  });
});

describe('a build that stops writing is shown stale', () => {
  let env: TestEnv;
  let orchestrator: INestApplicationContext | undefined;
  const clock = new ManualClock();

  before(async () => {
    env = await TestEnv.create({ BUILD_STALE_MINUTES: '30' });
    orchestrator = await createOrchestrator(env.settings, { clock });
  });
  after(() => env?.cleanup(orchestrator));

  const view = async (buildId: string) => {
    const { nc } = await env.nats();
    const reply = await nc.request(env.subjects.rpc('builds.get'), JSON.stringify({ build_id: buildId }));
    return reply.json<{ result: { stale: boolean; status: string; received_at: string } }>().result;
  };

  it('after BUILD_STALE_MINUTES without an event while running, and never once it ended', async () => {
    await env.publishStatus('QUIET', 1, { updated_at: '2020-01-01T00:00:00Z' }); // a writer's clock far off
    await env.publishStatus('DONE', 1, { status: 'completed' });
    const quiet = await eventually(async () => (await view('QUIET').catch(() => undefined)) ?? undefined);
    await eventually(async () => ((await view('DONE').catch(() => undefined)) ? true : undefined));
    assert.equal(quiet.stale, false, "judged by when it was received, not by the writer's updated_at");
    assert.ok(Math.abs(Date.parse(quiet.received_at) - Date.now()) < 60_000);
    clock.advance(29 * 60_000);
    assert.equal((await view('QUIET')).stale, false);
    clock.advance(2 * 60_000);
    assert.equal((await view('QUIET')).stale, true, 'running, and nothing for 31 minutes');
    assert.equal((await view('DONE')).stale, false, 'a finished build is never stale');
    const { nc } = await env.nats();
    const page = (await nc.request(env.subjects.rpc('builds.list'), JSON.stringify({}))).json<{
      result: { items: { build_id: string; stale: boolean }[] };
    }>().result;
    assert.deepEqual(page.items.map((b) => [b.build_id, b.stale]).sort(), [
      ['DONE', false],
      ['QUIET', true],
    ]);
  });
});
