import { createConnection } from 'node:net';

export interface ServiceUrls {
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
}

const LOCAL = {
  natsUrl: 'nats://127.0.0.1:4222',
  redisUrl: 'redis://127.0.0.1:6379',
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
};

let resolved: Promise<ServiceUrls> | undefined;

/**
 * Where the tests find NATS, Redis and PostgreSQL: NATS_URL / REDIS_URL / DATABASE_URL when set, else the
 * services on localhost when they answer, else containers started by testcontainers where Docker runs.
 * `databaseUrl` names a server; each test creates and drops a database of its own on it.
 */
export function resolveServices(env: NodeJS.ProcessEnv = process.env): Promise<ServiceUrls> {
  resolved ??= (async () => {
    const given = {
      natsUrl: env['NATS_URL'] ?? LOCAL.natsUrl,
      redisUrl: env['REDIS_URL'] ?? LOCAL.redisUrl,
      databaseUrl: env['DATABASE_URL'] ?? LOCAL.databaseUrl,
    };
    const answers = await Promise.all([given.natsUrl, given.redisUrl, given.databaseUrl].map(reachable));
    if (answers.every(Boolean)) return given;
    return startContainers(given, answers);
  })();
  return resolved;
}

async function startContainers(given: ServiceUrls, answers: boolean[]): Promise<ServiceUrls> {
  const { GenericContainer, Wait } = await import('testcontainers').catch(() => {
    throw new Error('NATS, Redis or PostgreSQL does not answer, and testcontainers is not installed');
  });
  const urls = { ...given };
  try {
    if (!answers[0]) {
      const nats = await new GenericContainer('nats:2.10')
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .start();
      urls.natsUrl = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
    }
    if (!answers[1]) {
      const redis = await new GenericContainer('redis:7').withExposedPorts(6379).start();
      urls.redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
    }
    if (!answers[2]) {
      const pg = await new GenericContainer('postgres:15')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
        .start();
      urls.databaseUrl = `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`;
    }
  } catch (error) {
    throw new Error(
      `NATS, Redis or PostgreSQL does not answer at ${JSON.stringify(given)}, and no container could be started: set NATS_URL, REDIS_URL and DATABASE_URL`,
      { cause: error },
    );
  }
  return urls;
}

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url.split(',')[0] ?? url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port), timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
