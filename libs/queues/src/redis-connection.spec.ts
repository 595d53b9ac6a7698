import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisConnection } from './redis-connection.js';

describe('redisConnection', () => {
  it('reads host, port, credentials, database and TLS from REDIS_URL', () => {
    assert.deepEqual(redisConnection('rediss://user:p%40ss@redis.internal:6380/2'), {
      host: 'redis.internal',
      port: 6380,
      username: 'user',
      password: 'p@ss',
      db: 2,
      tls: {},
      maxRetriesPerRequest: null,
    });
    assert.deepEqual(redisConnection('redis://127.0.0.1:6379'), {
      host: '127.0.0.1',
      port: 6379,
      maxRetriesPerRequest: null,
    });
  });
});
