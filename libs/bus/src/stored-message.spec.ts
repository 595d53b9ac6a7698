import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { readStoredMessage, type StoredMessageQuery } from './stored-message.js';

/**
 * The choice between a direct get and the leader's get alone. Which replica answers a direct get cannot be
 * chosen on a real cluster, so here the direct get answers as a follower that has applied the stream up to
 * `applied` and the leader's get as the leader; `test/integration/cluster.test.ts` reads a real three-server
 * cluster right after each publish.
 */
function replicated(subjects: string[], applied: number) {
  const stored = subjects.map((subject, i) => ({ seq: i + 1, subject }) as StoredMsg);
  const asked: ('direct' | 'leader')[] = [];
  const find = (upTo: number, query: StoredMessageQuery): StoredMsg | null => {
    const held = stored.filter((msg) => msg.seq <= upTo);
    if ('last_by_subj' in query) return held.findLast((msg) => msg.subject === query.last_by_subj) ?? null;
    if ('next_by_subj' in query)
      return held.find((msg) => msg.seq >= query.seq && msg.subject === query.next_by_subj) ?? null;
    return held.find((msg) => msg.seq === query.seq) ?? null;
  };
  const jsm = {
    direct: {
      getMessage: (_stream: string, query: StoredMessageQuery) => {
        asked.push('direct');
        return Promise.resolve(find(applied, query));
      },
    },
    streams: {
      getMessage: (_stream: string, query: StoredMessageQuery) => {
        asked.push('leader');
        return Promise.resolve(find(stored.length, query));
      },
    },
  } as unknown as JetStreamManager;
  return { read: (query: StoredMessageQuery) => readStoredMessage(jsm, 'S', query), asked };
}

describe('readStoredMessage', () => {
  it('takes a message a follower finds from the follower, without asking the leader', async () => {
    const { read, asked } = replicated(['a', 'b', 'a', 'a'], 3);
    assert.equal((await read({ seq: 2, next_by_subj: 'a' }))?.seq, 3);
    assert.equal((await read({ seq: 1 }))?.subject, 'a');
    assert.deepEqual(asked, ['direct', 'direct']);
  });

  it('finds what a follower behind the leader has not applied yet', async () => {
    const { read, asked } = replicated(['a', 'b', 'a', 'a'], 2);
    assert.equal((await read({ seq: 3, next_by_subj: 'a' }))?.seq, 3);
    assert.equal((await read({ seq: 4 }))?.seq, 4);
    assert.deepEqual(asked, ['direct', 'leader', 'direct', 'leader']);
  });

  it('asks the leader for the last message of a subject, which a follower may have an older one of', async () => {
    const { read, asked } = replicated(['a', 'b', 'a'], 1);
    assert.equal((await read({ last_by_subj: 'a' }))?.seq, 3);
    assert.deepEqual(asked, ['leader']);
  });

  it('answers null where the leader holds nothing either', async () => {
    const { read } = replicated(['a', 'b'], 2);
    assert.equal(await read({ seq: 1, next_by_subj: 'c' }), null);
    assert.equal(await read({ seq: 9 }), null);
    assert.equal(await read({ last_by_subj: 'c' }), null);
  });
});
