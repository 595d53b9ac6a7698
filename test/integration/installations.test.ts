import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { ServiceProcess, TestEnv } from '#test-support';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';

/**
 * Issue 10 (7): two installations (two databases) must not share a NATS namespace or a Redis queue prefix
 * unawares: one would answer the other's requests, or take its trigger jobs. The second refuses to start.
 */
describe('installations sharing NATS or Redis', () => {
  let first: TestEnv;
  let orchestrator: INestApplicationContext | undefined;
  const others: TestEnv[] = [];

  before(async () => {
    first = await TestEnv.create();
    orchestrator = await createOrchestrator(first.settings);
  });
  after(async () => {
    for (const env of others) await env.cleanup();
    await first?.cleanup(orchestrator);
  });

  async function startOther(overrides: Record<string, string>): Promise<ServiceProcess> {
    const env = await TestEnv.create(overrides);
    others.push(env);
    return ServiceProcess.start('orchestrator', env.processEnv());
  }

  it('refuses to start on a NATS namespace another installation answers on, naming BUS_NAMESPACE', async () => {
    const second = await startOther({ BUS_NAMESPACE: first.namespace });
    const { code } = await second.exited;
    assert.equal(code, 1, second.output.slice(-2000));
    assert.match(second.output, /another guardkit-stream installation \(database guardkit_test_\w+\)/);
    assert.match(second.output, /BUS_NAMESPACE="t\w+"/);
  });

  it('refuses to start on queues another installation works, naming QUEUE_PREFIX', async () => {
    const second = await startOther({ QUEUE_PREFIX: first.namespace });
    const { code } = await second.exited;
    assert.equal(code, 1, second.output.slice(-2000));
    assert.match(second.output, /QUEUE_PREFIX="t\w+"/);
  });

  it('lets a replica of the same installation (the same database) start beside it', async () => {
    const replica = ServiceProcess.start('orchestrator', { ...first.processEnv(), LOG_LEVEL: 'info' });
    try {
      await replica.waitForOutput(/"msg":"installation"/, 20_000);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(
        replica.output.includes('INSTALLATION_CONFLICT') || /another guardkit-stream/.test(replica.output),
        false,
      );
    } finally {
      await replica.stop();
    }
  });
});
