import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  processAlive,
  eventually,
  freePort,
  PipelineClient,
  ServiceProcess,
  Stack,
  TestEnv,
} from '#test-support';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';

const alive = processAlive;

describe('pipelines: an orchestrator killed with SIGKILL mid-action resumes the run', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let client: PipelineClient;
  const orchestrators: ServiceProcess[] = [];

  before(async () => {
    env = await TestEnv.create();
    gateway = await createGateway(env.settings);
    const address = gateway.getHttpServer().address();
    client = new PipelineClient(
      `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      env,
    );
  });
  after(async () => {
    for (const o of orchestrators) await o.stop();
    await env?.cleanup(gateway);
  });

  const startOrchestrator = async () => {
    const orchestrator = ServiceProcess.start('orchestrator', { ...env.processEnv(), LOG_LEVEL: 'info' });
    orchestrators.push(orchestrator);
    await orchestrator.waitForOutput(/orchestrator ready/, 30_000);
    return orchestrator;
  };

  it('runs the interrupted action again (recorded as interrupted), ends what the dead one left, and goes on', async () => {
    const first = await startOrchestrator();
    const cwd = await client.workspace();
    const text = [
      'AUTOAPPDEV_PIPELINE 1',
      'TASK {"id":"t1","title":"Long"}',
      '  STEP {"id":"s1","title":"Work","block":"work"}',
      '    ACTION {"id":"a1","kind":"run","params":{"cmd":"echo $$ >> starts.txt; sleep 4; echo ONE"}}',
      '    ACTION {"id":"a2","kind":"run","params":{"cmd":"echo TWO"}}',
    ].join('\n');
    const runId = await client.start({ script_text: text, cwd });
    const starts = () =>
      readFile(join(cwd, 'starts.txt'), 'utf8').then(
        (t) => t.trim().split('\n').map(Number),
        () => [],
      );
    const [orphan] = await eventually(
      async () => ((await starts()).length === 1 ? starts() : undefined),
      20_000,
    );
    await first.kill();
    assert.ok(alive(orphan), 'the action outlives its orchestrator (its own process group)');

    await startOrchestrator();
    const done = await client.until(runId, ['completed', 'failed'], 40_000);
    assert.equal(done.state, 'completed', JSON.stringify(done));
    assert.equal((await starts()).length, 2, 'the interrupted action ran once more, not the whole run');
    assert.ok(!alive(orphan), 'what the dead orchestrator left running was ended');
    const rows = await env.query<{ seq: number; attempt: number; state: string; action_id: string }>(
      'SELECT seq, attempt, state, action_id FROM pipeline_action_runs WHERE run_id = $1 ORDER BY seq, attempt',
      [runId],
    );
    assert.deepEqual(
      rows.map((r) => [r.action_id, r.attempt, r.state]),
      [
        ['a1', 1, 'interrupted'],
        ['a1', 2, 'succeeded'],
        ['a2', 1, 'succeeded'],
      ],
    );
    const lines = await client.lines(runId, (l) => l.includes('runner done'));
    assert.ok(
      lines.some((l) =>
        /a1: interrupted \(the orchestrator stopped while it ran\); running it again \(attempt 2\)/.test(l),
      ),
      lines.join('\n'),
    );
    assert.deepEqual(
      lines.filter((l) => l === 'ONE' || l === 'TWO'),
      ['ONE', 'TWO'],
    );
  });
});

describe('pipelines: the concurrency of a role is never exceeded, over two orchestrator replicas', () => {
  let env: TestEnv;
  let stack: Stack;
  let second: Awaited<ReturnType<typeof createOrchestrator>> | undefined;
  let client: PipelineClient;

  before(async () => {
    env = await TestEnv.create({ AGENT_CONCURRENCY: 'tester=2,*=1' });
    stack = await Stack.start(env);
    second = await createOrchestrator(env.settings); // its worker could take 2 more: the queue's limit holds
    client = new PipelineClient(stack.baseUrl, env);
  });
  after(async () => {
    await second?.close();
    await stack?.stop();
  });

  it('10 pipelines at once: at most 2 tester actions run at a time, and 2 do', async () => {
    const journal = join(env.root, 'journal.txt');
    const cmd = `echo "+ $(date +%s%N)" >> ${journal}; sleep 0.5; echo "- $(date +%s%N)" >> ${journal}`;
    // Each action's window opens once its login shell has read its profile. A machine's own profile can take
    // half a second and vary as much (pyenv's init, on one CI machine), so two actions started together
    // could show no overlap: the actions get an empty HOME, as a clean account would have.
    const home = join(env.root, 'home');
    await mkdir(home);
    const text = [
      'AUTOAPPDEV_PIPELINE 1',
      'TASK {"id":"t1","title":"Check"}',
      '  STEP {"id":"d","title":"Debug","block":"debug"}',
      `    ACTION ${JSON.stringify({ id: 'a1', kind: 'run', params: { cmd } })}`,
      `    ACTION ${JSON.stringify({ id: 'a2', kind: 'run', params: { cmd } })}`,
    ].join('\n');
    const runs = await Promise.all(
      Array.from({ length: 10 }, async () =>
        client.start({ script_text: text, cwd: await client.workspace(), env: { HOME: home } }),
      ),
    );
    for (const runId of runs)
      assert.equal((await client.until(runId, ['completed', 'failed'], 60_000)).state, 'completed');
    const events = (await readFile(journal, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => ({ delta: line.startsWith('+') ? 1 : -1, at: BigInt(line.slice(2)) }))
      .sort((a, b) => (a.at === b.at ? a.delta - b.delta : a.at < b.at ? -1 : 1));
    assert.equal(events.length, 40);
    let running = 0;
    let most = 0;
    for (const e of events) most = Math.max(most, (running += e.delta));
    assert.equal(most, 2, `at most 2 at once, and the queue uses both (saw ${most})`);
  });
});

describe('pipelines: two orchestrators drive each run once', () => {
  let env: TestEnv;
  let stack: Stack;
  let second: Awaited<ReturnType<typeof createOrchestrator>> | undefined;
  let client: PipelineClient;

  before(async () => {
    env = await TestEnv.create();
    stack = await Stack.start(env);
    second = await createOrchestrator(env.settings);
    client = new PipelineClient(stack.baseUrl, env);
  });
  after(async () => {
    await second?.close();
    await stack?.stop();
  });

  it('8 runs over two replicas: every action once, every run completed, and the other replica`s sweep leaves them be', async () => {
    const journal = join(env.root, 'journal.txt');
    const text = [
      'AUTOAPPDEV_PIPELINE 1',
      'TASK {"id":"t1","title":"T"}',
      '  STEP {"id":"s","title":"S","block":"work"}',
      ...['a1', 'a2', 'a3'].map(
        (id) =>
          `    ACTION ${JSON.stringify({ id, kind: 'run', params: { cmd: `sleep 1; echo "$GUARDKIT_BUILD_ID ${id}" >> ${journal}` } })}`,
      ),
    ].join('\n');
    // long enough for each replica's sweep (every 5 s) to look at every run while it is driven by the other
    const runs = await Promise.all(
      Array.from({ length: 8 }, async () =>
        client.start({ script_text: text, cwd: await client.workspace() }),
      ),
    );
    for (const runId of runs)
      assert.equal((await client.until(runId, ['completed', 'failed'], 60_000)).state, 'completed');
    const lines = (await readFile(journal, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 24, lines.join('\n'));
    assert.equal(new Set(lines).size, 24, 'no action ran twice');
    const attempts = await env.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pipeline_action_runs WHERE attempt > 1 OR state <> 'succeeded'`,
    );
    assert.equal(attempts[0].n, 0);
  });
});

describe('pipelines: PostgreSQL away while an action ends', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let orchestrator: Awaited<ReturnType<typeof createOrchestrator>> | undefined;
  let client: PipelineClient;
  const sockets = new Set<Socket>();
  let proxy: Server;
  let port: number;
  const listen = () => new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));

  before(async () => {
    env = await TestEnv.create();
    const upstream = new URL(env.vars['DATABASE_URL'] ?? '');
    proxy = createServer((socket) => {
      const server = connect(Number(upstream.port || 5432), upstream.hostname);
      for (const s of [socket, server]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      socket.pipe(server).pipe(socket);
    });
    port = await freePort();
    await listen();
    const proxied = new URL(upstream);
    proxied.host = `127.0.0.1:${port}`;
    orchestrator = await createOrchestrator({ ...env.settings, database: { url: proxied.toString() } });
    gateway = await createGateway(env.settings);
    const address = gateway.getHttpServer().address();
    client = new PipelineClient(
      `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      env,
    );
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    proxy.close();
    await env?.cleanup(gateway, orchestrator);
  });

  it('records the end once the database is back: the action is not run again, and the run goes on', async () => {
    const cwd = await client.workspace();
    const text = [
      'AUTOAPPDEV_PIPELINE 1',
      'TASK {"id":"t1","title":"T"}',
      '  STEP {"id":"s","title":"S","block":"work"}',
      '    ACTION {"id":"a1","kind":"run","params":{"cmd":"echo x >> starts.txt; sleep 2; echo ONE"}}',
      '    ACTION {"id":"a2","kind":"run","params":{"cmd":"echo TWO"}}',
    ].join('\n');
    const runId = await client.start({ script_text: text, cwd });
    await eventually(
      async () => ((await readFile(join(cwd, 'starts.txt'), 'utf8').catch(() => '')) ? true : undefined),
      20_000,
    );
    // cut PostgreSQL while the action runs, past its end, then bring it back
    proxy.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 4000));
    await listen();
    assert.equal((await client.until(runId, ['completed', 'failed'], 60_000)).state, 'completed');
    assert.equal((await readFile(join(cwd, 'starts.txt'), 'utf8')).trim().split('\n').length, 1, 'ran once');
    const rows = await env.query<{ action_id: string; attempt: number; state: string }>(
      'SELECT action_id, attempt, state FROM pipeline_action_runs WHERE run_id = $1 ORDER BY seq, attempt',
      [runId],
    );
    assert.deepEqual(
      rows.map((r) => [r.action_id, r.attempt, r.state]),
      [
        ['a1', 1, 'succeeded'],
        ['a2', 1, 'succeeded'],
      ],
    );
  });
});
