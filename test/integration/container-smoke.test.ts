import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { settingNames } from '#platform';
import { eventually, freePort, TestEnv } from '#test-support';

const REPO = resolve(fileURLToPath(import.meta.url), '../../../..');

interface ComposeService {
  command: string[];
  environment: Record<string, string>;
  healthcheck?: { test: string[] };
}

/** `${VAR:-default}` as compose reads it with nothing set: the default. */
function interpolate(value: unknown): string {
  return String(value).replace(
    /\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g,
    (_m, _name: string, fallback?: string) => fallback ?? '',
  );
}

/**
 * The containers, without Docker: each service started with its compose entry command and environment (only
 * the addresses of NATS, Redis and PostgreSQL, the ports and the mounted folders point at this machine), then
 * probed with its compose health check. The compose file and the image cannot drift from the code unnoticed.
 */
describe('docker-compose.yml and the Dockerfile against the code', () => {
  let env: TestEnv;
  let compose: { services: Record<string, ComposeService> };
  const children: ReturnType<typeof spawn>[] = [];

  before(async () => {
    env = await TestEnv.create();
    compose = parse(await readFile(join(REPO, 'docker-compose.yml'), 'utf8'), {
      merge: true,
    }) as typeof compose;
  });
  after(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (child) => new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r))),
      ),
    );
    await env?.cleanup();
  });

  it('passes docker-compose config (the real parser), where it is installed', async (t) => {
    const found = await new Promise<boolean>((r) =>
      execFile('docker-compose', ['version'], (error) => r(!error)),
    );
    if (!found) return t.skip('docker-compose is not installed (.ci/run installs it)');
    const result = await new Promise<{ code: number; stderr: string }>((r) =>
      execFile(
        'docker-compose',
        ['-f', 'docker-compose.yml', 'config', '-q'],
        { cwd: REPO },
        (error, _o, stderr) => r({ code: error ? 1 : 0, stderr }),
      ),
    );
    assert.equal(result.code, 0, result.stderr);
  });

  it('sets every setting the services read, with values the services accept', () => {
    for (const name of ['orchestrator', 'ingestor', 'gateway']) {
      const environment = compose.services[name]?.environment ?? {};
      const missing = settingNames().filter((setting) => !(setting in environment));
      assert.deepEqual(missing, [], `${name} lacks ${missing.join(', ')}`);
    }
  });

  it('runs each service with its compose command and environment, and its health check passes', async () => {
    const runtime = join(env.root, 'runtime');
    await mkdir(runtime, { recursive: true });
    for (const name of ['orchestrator', 'ingestor', 'gateway']) {
      const service = compose.services[name];
      assert.ok(service, `no ${name} service`);
      const port = String(await freePort());
      const environment = Object.fromEntries(
        Object.entries(service.environment).map(([key, value]) => [key, interpolate(value)]),
      );
      const local = {
        ...environment,
        NATS_URL: env.vars['NATS_URL'],
        REDIS_URL: env.vars['REDIS_URL'],
        DATABASE_URL: env.vars['DATABASE_URL'],
        BUS_NAMESPACE: env.namespace,
        QUEUE_PREFIX: env.namespace,
        GUARDKIT_PROGRESS_ROOTS: env.root,
        AUTOAPPDEV_RUNTIME_DIR: runtime,
        GATEWAY_PORT: name === 'gateway' ? port : environment['GATEWAY_PORT'],
        HEALTH_PORT: port,
        GATEWAY_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      };
      const [command = '', ...args] = service.command;
      const child = spawn(command, args, {
        cwd: REPO,
        env: { PATH: process.env['PATH'], ...local },
        stdio: 'pipe',
      });
      children.push(child);
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));

      const probe = (service.healthcheck?.test ?? [])
        .slice(1)
        .map((part) => part.replace(/:(3000|9000)\//, `:${port}/`));
      assert.deepEqual(probe.slice(0, 2), ['node', 'scripts/healthcheck.mjs'], `${name}'s health check`);
      await eventually(
        () =>
          new Promise<true | undefined>((r) =>
            execFile(probe[0] ?? '', probe.slice(1), { cwd: REPO }, (error) => r(error ? undefined : true)),
          ),
        30_000,
        `${name} to be healthy (${output.slice(-1500)})`,
      );
    }
  });

  it('builds an image from what the build produces: the CMD, health check and copied paths exist', async () => {
    const dockerfile = await readFile(join(REPO, 'Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/COPY --from=build \S+ \/app\/(\S+)/g)].map((m) => m[1] ?? '');
    assert.ok(copied.length >= 4);
    assert.ok(
      copied.includes('apps/orchestrator/templates'),
      'the workflow role templates the orchestrator reads',
    );
    assert.match(dockerfile, /apt-get install [^\n]*\bgit\b/, 'git, which workflows diff with');
    for (const path of copied) await access(join(REPO, path));
    const cmd = /^CMD \["node", "([^"]+)"\]/m.exec(dockerfile)?.[1];
    assert.ok(cmd);
    await access(join(REPO, cmd));
    assert.match(dockerfile, /^USER node$/m, 'runs as a non-root user');
    assert.match(dockerfile, /^HEALTHCHECK .*scripts\/healthcheck\.mjs/m);
    for (const service of Object.values(compose.services)) {
      if (service.command?.[0] === 'node') await access(join(REPO, service.command[1] ?? ''));
    }
  });
});
