import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ChaosFault, runChaos } from '#test-support';

/**
 * Issue 10 (9): faults for real, each in a run of its own (a NATS of its own, the services as processes):
 * NATS killed with SIGKILL and started again, then each service in turn, while 20 builds and an outbox
 * burst flow to resuming SSE clients. Nothing may be lost and nothing stored or delivered twice.
 * `npm run chaos` runs longer versions and prints the counts (docs/reliability.md).
 */
describe('chaos: kill -9 under load, then count', () => {
  const faults = (process.env['CHAOS_FAULTS']?.split(',') ?? [
    'nats',
    'ingestor',
    'orchestrator',
    'gateway',
  ]) as ChaosFault[];
  for (const fault of faults) {
    it(`loses nothing and doubles nothing when ${fault} is killed -9 and restarted`, async () => {
      const counts = await runChaos({
        fault,
        builds: 20,
        updates: 6,
        outboxFiles: 150,
        outboxPerSecond: 50,
        faultAtMs: 1000,
        downMs: fault === 'nats' ? 3000 : 1000,
        settleMs: 30_000,
      });
      assert.deepEqual(counts.problems, [], JSON.stringify(counts, null, 2));
      assert.equal(counts.outbox.inPostgres, 150);
      assert.equal(counts.builds.completedInRest, 20);
      assert.equal(counts.clients.matchingTheStream, counts.clients.count);
    });
  }
});
