import type { RedisOptions } from 'bullmq';

/**
 * ioredis options from REDIS_URL (`redis://[user:password@]host[:port][/db]`, `rediss://` for TLS).
 * `maxRetriesPerRequest: null` is what BullMQ workers need: a command waits for Redis to come back
 * instead of failing the job.
 */
export function redisConnection(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}
