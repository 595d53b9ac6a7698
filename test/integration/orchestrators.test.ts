import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, freePort, ServiceProcess, TestEnv } from '#test-support';

/**
 * Issue 16 (4): two orchestrators on one installation, as processes started at the same moment. Migrations
 * run once; each projection is applied by one of them (the holder of its lease), in stream order; when the
 * holder is killed with SIGKILL, the other takes the projections over from the stored position.
 */
describe('two orchestrators', () => {
  let env: TestEnv;
  const orchestrators: ServiceProcess[] = [];

  before(async () => {
    env = await TestEnv.create({ LOG_LEVEL: 'info', PROJECTION_CHECK_MS: '500' });
  });
  after(async () => {
    for (const orchestrator of orchestrators) await orchestrator.stop();
    await env?.cleanup();
  });

  const ready = async (port: number, service: ServiceProcess) =>
    eventually(
      async () => {
        assert.ok(service.running, `exited:\n${service.output.slice(-3000)}`);
        return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200
          ? true
          : undefined;
      },
      30_000,
      'ready',
    );
  const holders = async () =>
    (
      await env.query<{ holders: string }>(
        `SELECT count(*) AS holders FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = $1)`,
        [env.databaseName],
      )
    )[0]?.holders;
  const outboxRows = () =>
    env.query<{ seq: string; content: string }>('SELECT seq, content FROM outbox_messages ORDER BY id');

  it('start together on a new database (migrations once), and one of them applies each projection', async () => {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      orchestrators.push(
        ServiceProcess.start('orchestrator', { ...env.processEnv(), HEALTH_PORT: String(port) }),
      );
    }
    for (const [i, port] of ports.entries()) await ready(port, orchestrators[i]);
    assert.equal(await holders(), '2', 'two leases (builds, outbox), each held once');
    const standing = orchestrators.map((o) => (o.output.match(/standing by to take it over/g) ?? []).length);
    assert.equal(standing[0] + standing[1], 2, 'the other orchestrator stands by for both projections');

    await env.publishOutbox(0, 200);
    for (let turn = 1; turn <= 5; turn++) await env.publishStatus('TWO-1', turn);
    await eventually(
      async () => ((await outboxRows()).length === 200 ? true : undefined),
      15_000,
      '200 rows',
    );
    // the builds projection goes at its own pace: wait for it too
    await eventually(
      async () =>
        (
          await env.query<{ turn: number }>(
            `SELECT (latest->>'turn')::int AS turn FROM builds WHERE build_id = 'TWO-1'`,
          )
        )[0]?.turn === 5
          ? true
          : undefined,
      15_000,
      'the build at turn 5',
    );
  });

  it('when the holder is killed -9, the other takes the projections over and misses nothing', async () => {
    // the one holding more leases (both, or one if they split them)
    const standbys = (o: ServiceProcess) => (o.output.match(/standing by to take it over/g) ?? []).length;
    const [holder, standby] = [...orchestrators].sort((a, b) => standbys(a) - standbys(b)) as [
      ServiceProcess,
      ServiceProcess,
    ];
    await holder.kill();
    await env.publishOutbox(200, 300);
    await env.publishStatus('TWO-1', 6, { status: 'completed' });
    await eventually(async () => ((await outboxRows()).length >= 500 ? true : undefined), 20_000, '500 rows');
    const rows = await outboxRows();
    assert.deepEqual(
      rows.map((r) => r.content),
      Array.from({ length: 500 }, (_, n) => `message ${n}`),
      'each message once, rows in stream order',
    );
    await eventually(
      async () =>
        (await env.query<{ status: string }>(`SELECT status FROM builds WHERE build_id = 'TWO-1'`))[0]
          ?.status === 'completed'
          ? true
          : undefined,
      10_000,
      'the build completed',
    );
    assert.match(standby.output, /took the projection over/);
  });
});
