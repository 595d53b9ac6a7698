import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort, NatsCluster, runChaos, ServiceProcess, TestEnv } from '#test-support';

/**
 * Issue 16: past one machine, for real. Three nats-servers of the test's own on loopback form one JetStream
 * cluster (never the shared server), with STREAM_REPLICAS=3; the services run as processes, started at the
 * same moment as `npm start` and docker compose start them.
 */
describe('a three-server NATS cluster', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('the stack starts while the cluster is still forming (two of three members start once every service waits, the lone one answering 10008)', async () => {
    const cluster = await NatsCluster.start(3, { running: 1 }); // one member of three: no quorum yet
    cleanups.push(() => cluster.stop());
    const env = await TestEnv.create({
      NATS_URL: cluster.servers[0].url,
      STREAM_REPLICAS: '3',
      STREAM_STORAGE: 'file',
      LOG_LEVEL: 'info',
    });
    cleanups.push(() => env.cleanup());
    const ports = new Map(
      await Promise.all(
        (['orchestrator', 'ingestor', 'gateway'] as const).map(
          async (name) => [name, await freePort()] as const,
        ),
      ),
    );
    const services = [...ports].map(([name, port]) =>
      ServiceProcess.start(name, {
        ...env.processEnv(),
        HEALTH_PORT: String(port),
        ...(name === 'gateway' ? { GATEWAY_PORT: String(port) } : {}),
      }),
    );
    cleanups.push(() => Promise.all(services.map((s) => s.stop())));
    // each service says it waits before the cluster forms (not a fixed sleep: on a busy machine a service
    // can take longer than that to reach NATS, and would then find the cluster already formed)
    await Promise.all(services.map((s) => s.waitForOutput(/JetStream does not answer yet/, 45_000)));
    // and go on waiting once the lone member, after about ten seconds alone, answers "temporarily
    // unavailable" (10008) instead of letting requests time out
    await Promise.all(
      services.map((s) => s.waitForOutput(/JetStream error 10008.*still does not answer/, 30_000)),
    );
    await new Promise((r) => setTimeout(r, 1500));
    for (const service of services) {
      assert.ok(
        service.running,
        `${service.name} exited while JetStream could not answer yet:\n${service.output.slice(-3000)}`,
      );
    }
    await cluster.servers[1].restart();
    await cluster.servers[2].restart();
    for (const [name, port] of ports) {
      const deadline = Date.now() + 45_000;
      while ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status !== 200) {
        const service = services.find((s) => s.name === name)!;
        assert.ok(
          service.running && Date.now() < deadline,
          `${name} is not ready:\n${service.output.slice(-3000)}`,
        );
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    for (const role of ['builds', 'outbox', 'triggers', 'ingest', 'logs'] as const) {
      assert.equal(
        await cluster.currentReplicas(env.subjects.streamName(role)),
        3,
        `${role}: three replicas`,
      );
    }
    for (const service of services) {
      assert.equal(
        service.output.match(/JetStream does not answer yet/g)?.length,
        1,
        `${service.name}: the wait is said once`,
      );
    }
  });

  it('loses nothing when the outbox stream`s leader is killed -9 mid-stream and brought back', async () => {
    const counts = await runChaos({
      fault: 'nats',
      cluster: true,
      gateways: 2,
      builds: 20,
      updates: 6,
      outboxFiles: 300,
      outboxPerSecond: 100,
      faultAtMs: 1000,
      downMs: 3000,
      settleMs: 30_000,
    });
    assert.deepEqual(counts.problems, [], JSON.stringify(counts, null, 2));
    assert.equal(counts.outbox.inPostgres, 300);
    assert.equal(counts.builds.completedInRest, 20);
    assert.equal(counts.clients.matchingTheStream, counts.clients.count);
    assert.deepEqual(Object.values(counts.currentReplicas ?? {}), [3, 3, 3]);
  });

  it('two gateways: the clients of one killed -9 resume on the other with Last-Event-ID, missing nothing', async () => {
    const counts = await runChaos({
      fault: 'gateway',
      cluster: true,
      gateways: 2,
      builds: 20,
      updates: 6,
      outboxFiles: 150,
      outboxPerSecond: 50,
      faultAtMs: 1000,
      downMs: 2000,
      settleMs: 30_000,
    });
    assert.deepEqual(counts.problems, [], JSON.stringify(counts, null, 2));
    assert.equal(counts.clients.matchingTheStream, counts.clients.count);
    // half the clients started on the killed gateway; each went on on the other one
    assert.ok(counts.clients.servedByTwoGateways >= 10, JSON.stringify(counts.clients));
  });
});
