import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JetStreamApiError, type StreamConfig } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/nats-core';
import { StreamProvisioningError, Subjects } from '#contracts';
import { loadSettings } from '#platform';
import type { Bus } from './bus.js';
import { StreamProvisioner } from './stream-provisioner.js';

/**
 * The retry and no-op rules alone, with a stand-in JetStream manager that fails at a chosen call, as a cluster
 * electing its leaders does (`test/integration/cluster.test.ts` starts the stack on a real forming cluster).
 */
function provisionerWith(answers: { add?: (() => unknown)[]; existing?: Map<string, StreamConfig> }) {
  const calls: string[] = [];
  const existing = answers.existing ?? new Map<string, StreamConfig>();
  const apiError = (code: number, description: string) =>
    new JetStreamApiError({ code: 500, err_code: code, description });
  const bus = {
    subjects: new Subjects('p'),
    nc: { info: { server_name: 'n1', cluster: 'c1' } },
    jsm: {
      getAccountInfo: () => Promise.reject(new TimeoutError()),
      streams: {
        info: (name: string) => {
          calls.push(`info ${name}`);
          const config = existing.get(name);
          return config ? Promise.resolve({ config }) : Promise.reject(apiError(10059, 'stream not found'));
        },
        add: (config: StreamConfig) => {
          calls.push(`add ${config.name}`);
          const next = answers.add?.shift();
          if (next) return Promise.resolve().then(next);
          existing.set(config.name, config);
          return Promise.resolve({ config });
        },
        update: (name: string) => {
          calls.push(`update ${name}`);
          return Promise.resolve({ config: existing.get(name) });
        },
      },
    },
  } as unknown as Bus;
  const settings = loadSettings({ STREAM_PROVISION_TIMEOUT_MS: '1000', STREAM_REPLICAS: '3' });
  return { provisioner: new StreamProvisioner(bus, settings), calls, apiError };
}

describe('StreamProvisioner', () => {
  it('retries a stream while JetStream times out or is not ready, then goes on', async () => {
    const { provisioner, calls, apiError } = provisionerWith({
      add: [
        () => {
          throw new TimeoutError();
        },
        () => {
          throw apiError(10008, 'JetStream system temporarily unavailable');
        },
      ],
    });
    await provisioner.ensureAll();
    assert.equal(calls.filter((c) => c === 'add p_GUARDKIT_BUILDS').length, 3);
    assert.ok(calls.includes('add p_GUARDKIT_LOGS'), 'every stream after it too');
  });

  it('takes a stream another service created a moment ago as existing', async () => {
    const { provisioner, calls, apiError } = provisionerWith({
      add: [
        () => {
          throw apiError(10058, 'stream name already in use with a different configuration');
        },
      ],
    });
    await provisioner.ensureAll();
    assert.deepEqual(calls.slice(0, 3), [
      'info p_GUARDKIT_BUILDS',
      'add p_GUARDKIT_BUILDS',
      'info p_GUARDKIT_BUILDS',
    ]);
  });

  it('leaves a stream that is already as configured alone (no update to agree on)', async () => {
    const { provisioner, calls } = provisionerWith({});
    await provisioner.ensureAll();
    await provisioner.ensureAll();
    assert.equal(calls.filter((c) => c.startsWith('update')).length, 0);
  });

  it('fails at once on a final refusal, naming the stream and what the server is', async () => {
    const { provisioner, calls, apiError } = provisionerWith({
      add: [
        () => {
          throw apiError(10074, 'replicas > 1 not supported in non-clustered mode');
        },
      ],
    });
    const error = await provisioner.ensureAll().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof StreamProvisioningError);
    assert.match(error.message, /stream p_GUARDKIT_BUILDS: replicas > 1 not supported.*10074/);
    assert.match(error.message, /connected to n1 of cluster c1; JetStream does not answer/);
    assert.equal(calls.filter((c) => c.startsWith('add')).length, 1);
  });

  it('gives up after STREAM_PROVISION_TIMEOUT_MS, saying how long it tried', async () => {
    const always = Array.from({ length: 100 }, () => () => {
      throw new TimeoutError();
    });
    const { provisioner } = provisionerWith({ add: always });
    await assert.rejects(provisioner.ensureAll(), (error: Error) => {
      assert.ok(error instanceof StreamProvisioningError);
      assert.match(
        error.message,
        /cannot create or update stream p_GUARDKIT_BUILDS after \d+ attempts in 1\.\d s/,
      );
      assert.match(error.message, /STREAM_REPLICAS=3 needs that many JetStream servers/);
      return true;
    });
  });
});
