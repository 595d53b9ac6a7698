import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { eventually, freePort, NatsServer, ServiceProcess, type ServiceName, TestEnv } from '#test-support';

/**
 * Starting a service with something it needs missing: one line naming the service, the address and the setting
 * to change, a documented exit code (docs/operations.md), and no retrying forever.
 */
describe('a service that cannot start says why, and exits', () => {
  let env: TestEnv;
  before(async () => {
    env = await TestEnv.create();
  });
  after(() => env?.cleanup());

  async function startFailing(name: ServiceName, vars: Record<string, string>) {
    const service = ServiceProcess.start(name, { ...env.processEnv(), LOG_FORMAT: 'json', ...vars });
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${name} still running:\n${service.output}`)), 15_000).unref(),
    );
    const { code } = await Promise.race([service.exited, timeout]);
    const lines = service.output.trim().split('\n');
    return { code, lines };
  }

  it('names Redis and REDIS_URL when Redis does not answer (exit 3)', async () => {
    const port = await freePort();
    const { code, lines } = await startFailing('orchestrator', { REDIS_URL: `redis://127.0.0.1:${port}` });
    assert.equal(code, 3);
    assert.deepEqual(lines, [
      `orchestrator: Redis does not answer at 127.0.0.1:${port}: start it, or set REDIS_URL`,
    ]);
  });

  it('names PostgreSQL and DATABASE_URL when PostgreSQL does not answer (exit 3)', async () => {
    const port = await freePort();
    const { code, lines } = await startFailing('orchestrator', {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/guardkit`,
    });
    assert.equal(code, 3);
    assert.deepEqual(lines, [
      `orchestrator: PostgreSQL does not answer at 127.0.0.1:${port}: start it, or set DATABASE_URL`,
    ]);
  });

  it('names NATS and NATS_URL in one line, no stack trace (exit 3)', async () => {
    const port = await freePort();
    const { code, lines } = await startFailing('ingestor', { NATS_URL: `nats://127.0.0.1:${port}` });
    assert.equal(code, 3);
    assert.deepEqual(lines, [
      `ingestor: NATS does not answer at nats://127.0.0.1:${port}: start it, or set NATS_URL`,
    ]);
  });

  it('says that JetStream is not enabled when NATS runs without it, at once (exit 3)', async () => {
    const nats = await NatsServer.start({ jetstream: false });
    try {
      const { code, lines } = await startFailing('ingestor', { NATS_URL: nats.url });
      assert.equal(code, 3);
      assert.equal(
        lines.filter((line) => line.startsWith('ingestor:')).at(-1),
        'ingestor: failed to start: NATS answers but JetStream is not enabled (start nats-server with -js)',
      );
    } finally {
      await nats.stop();
    }
  });

  it('names the port and GATEWAY_PORT when the port is taken (exit 4)', async () => {
    const port = await freePort();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const { code, lines } = await startFailing('gateway', { GATEWAY_PORT: String(port) });
      assert.equal(code, 4);
      assert.equal(
        lines.filter((line) => line.startsWith('gateway:')).at(-1),
        `gateway: failed to start: port ${port} is in use by another program: stop it, or set GATEWAY_PORT`,
      );
    } finally {
      taken.close();
    }
  });

  it('names a progress folder that does not exist and GUARDKIT_PROGRESS_ROOTS (exit 4)', async () => {
    const missing = join(env.root, 'no-such-folder');
    const { code, lines } = await startFailing('ingestor', { GUARDKIT_PROGRESS_ROOTS: missing });
    assert.equal(code, 4);
    assert.deepEqual(lines, [
      `ingestor: GUARDKIT_PROGRESS_ROOTS names ${missing}, which is not a folder: create it, or change the setting`,
    ]);
  });

  it('a SIGTERM while it is still starting (and already at work) stops it through its shutdown hooks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slow-start-'));
    try {
      const fixture = fileURLToPath(new URL('../fixtures/slow-start-service.js', import.meta.url));
      const child = spawn(process.execPath, [fixture], {
        env: { ...process.env, PROBE_DIR: dir },
        stdio: 'ignore',
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      await eventually(() => access(join(dir, 'starting')).then(() => true), 15_000, 'the start to begin');
      child.kill('SIGTERM');
      const { code, signal } = await exited;
      assert.ok(code === 0 || signal === 'SIGTERM', `exited with ${code ?? signal}`);
      assert.equal(
        await readFile(join(dir, 'drained'), 'utf8').catch(() => 'never'),
        'SIGTERM',
        'its shutdown hooks ran, told of the signal',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ends on SIGTERM within SHUTDOWN_GRACE_MS, though Redis stopped answering while it ran', async () => {
    // Redis through a proxy that goes silent on demand: connections stay open and nothing comes back.
    const redis = new URL(env.vars['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
    const pairs: [Socket, Socket][] = [];
    let silent = false;
    const proxy = createServer((client) => {
      const upstream = connect(Number(redis.port || 6379), redis.hostname);
      pairs.push([client, upstream]);
      client.on('data', (chunk: Buffer) => silent || upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => silent || client.write(chunk));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    const port = await freePort();
    const healthPort = await freePort();
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    const service = ServiceProcess.start('orchestrator', {
      ...env.processEnv(),
      REDIS_URL: `redis://127.0.0.1:${port}`,
      HEALTH_PORT: String(healthPort),
      SHUTDOWN_GRACE_MS: '2000',
    });
    try {
      await eventually(
        async () =>
          (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok
            ? true
            : undefined,
        20_000,
        'the orchestrator ready',
      );
      silent = true;
      const asked = Date.now();
      void service.stop();
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`still running:\n${service.output.slice(-2000)}`)), 10_000).unref(),
      );
      await Promise.race([service.exited, timeout]);
      const took = Date.now() - asked;
      assert.ok(took < 4000, `stopped ${took} ms after SIGTERM`);
      assert.match(service.output, /still stopping after 2000 ms \(SHUTDOWN_GRACE_MS\); exiting now/);
    } finally {
      await service.kill();
      for (const pair of pairs) for (const socket of pair) socket.destroy();
      proxy.close();
    }
  });

  /**
   * Runs an orchestrator whose `setting` points through a proxy to the real service at `upstream`, cuts it
   * (every connection closed, new ones refused) for a few seconds once the orchestrator is ready, restores it,
   * and returns the orchestrator's output once it said `back` and is ready again.
   */
  async function outage(setting: string, upstream: URL, back: string): Promise<string[]> {
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const server = connect(Number(upstream.port), upstream.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(server).pipe(client);
    });
    const port = await freePort();
    const healthPort = await freePort();
    const listen = () => new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    await listen();
    const proxied = new URL(upstream);
    proxied.host = `127.0.0.1:${port}`;
    const service = ServiceProcess.start('orchestrator', {
      ...env.processEnv(),
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      [setting]: proxied.toString(),
      HEALTH_PORT: String(healthPort),
    });
    const ready = async () =>
      (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status ?? 0;
    try {
      await eventually(async () => ((await ready()) === 200 ? true : undefined), 20_000, 'ready');
      proxy.close();
      for (const socket of sockets) socket.destroy();
      await eventually(async () => ((await ready()) === 503 ? true : undefined), 10_000, 'not ready');
      await new Promise((r) => setTimeout(r, 4000));
      await listen();
      await eventually(
        () => (service.output.includes(back) ? true : undefined),
        20_000,
        `"${back}"\n${service.output.slice(-3000)}`,
      );
      await eventually(async () => ((await ready()) === 200 ? true : undefined), 10_000, 'ready again');
      return service.output.split('\n');
    } finally {
      await service.kill();
      for (const socket of sockets) socket.destroy();
      proxy.close();
    }
  }

  it('says once that Redis was lost and once that it is back, with readiness false meanwhile', async () => {
    const redis = new URL(env.vars['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
    if (!redis.port) redis.port = '6379';
    const lines = await outage('REDIS_URL', redis, 'Redis answers again');
    assert.equal(lines.filter((l) => l.includes('Redis is not answering at')).length, 1, 'lost: once');
    assert.equal(lines.filter((l) => l.includes('Redis answers again')).length, 1, 'back: once');
    assert.deepEqual(
      lines.filter((l) => /ECONNREFUSED|ECONNRESET/.test(l) && !l.startsWith('{')),
      [],
      'no bare connection errors',
    );
  });

  it('says once that PostgreSQL was lost and once that it is back, with readiness false meanwhile', async () => {
    const database = new URL(env.vars['DATABASE_URL'] ?? '');
    if (!database.port) database.port = '5432';
    const lines = await outage('DATABASE_URL', database, 'PostgreSQL answers again');
    assert.equal(lines.filter((l) => l.includes('PostgreSQL is not answering at')).length, 1, 'lost: once');
    assert.equal(lines.filter((l) => l.includes('PostgreSQL answers again')).length, 1, 'back: once');
  });
});
