import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Msg } from '@nats-io/nats-core';
import { IsString } from 'class-validator';
import { Subjects } from '#contracts';
import { loadSettings } from '#platform';
import type { Bus } from './bus.js';
import { RpcServer } from './rpc.js';

class Query {
  @IsString() id: string;
}

/** A stand-in connection: `deliver` hands a request to the served handler as NATS would. */
function serverWith(concurrency: number) {
  let callback: ((error: Error | null, msg: Msg) => void) | undefined;
  const bus = {
    subjects: new Subjects(),
    nc: {
      subscribe: (_subject: string, options: { callback: typeof callback }) => {
        callback = options.callback;
        return { unsubscribe: () => undefined };
      },
    },
  } as unknown as Bus;
  const server = new RpcServer(bus, loadSettings({ RPC_CONCURRENCY: String(concurrency) }));
  const replies: string[] = [];
  const deliver = (id: string) =>
    callback?.(null, {
      data: Buffer.from(JSON.stringify({ id })),
      json: () => ({ id }),
      respond: (reply: string) => replies.push(reply),
    } as unknown as Msg);
  return { server, deliver, replies };
}

describe('RpcServer', () => {
  it('handles at most RPC_CONCURRENCY requests at once; the rest wait their turn, in order', async () => {
    const { server, deliver, replies } = serverWith(2);
    let running = 0;
    let most = 0;
    const started: string[] = [];
    const release: (() => void)[] = [];
    server.serve('builds.get', Query, async (q) => {
      started.push(q.id);
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      return q.id;
    });
    for (const id of ['a', 'b', 'c', 'd', 'e']) deliver(id);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, ['a', 'b']);
    assert.deepEqual(server.load(), { active: 2, waiting: 3 });
    while (replies.length < 5) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(most, 2);
    assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(server.load(), { active: 0, waiting: 0 });
  });
});
