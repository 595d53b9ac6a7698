import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually, freePort, SseClient, TestEnv } from '#test-support';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The README's first run: `npm start` (after the build), then the demo, then curl. */
describe('npm start and the demo, as the README runs them', () => {
  let env: TestEnv;
  let port: number;
  let start: ChildProcess;
  let output = '';

  before(async () => {
    env = await TestEnv.create();
    port = await freePort();
    start = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: REPO,
      env: { ...env.processEnv(), GATEWAY_PORT: String(port), LOG_LEVEL: 'info' }, // a newcomer's level
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    start.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  });
  after(async () => {
    if (start.exitCode === null) start.kill('SIGKILL');
    await env?.cleanup();
  });

  it('says the dashboard URL once all three services answer, and not before', async () => {
    const url = `http://127.0.0.1:${port}`;
    const line = `guardkit-stream ready: dashboard at ${url}/`;
    await eventually(() => (output.includes(line) ? true : undefined), 60_000, `"${line}"\n${output}`);
    // at that moment the gateway is ready and the orchestrator answers through it
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    assert.equal((await fetch(`${url}/builds?limit=1`)).status, 200);
    assert.match(output, /npm run demo -- TASK-DEMO-001/);
    // a line per service: what it does and where
    assert.match(
      output,
      /orchestrator ready: builds and outbox into PostgreSQL 127\.0\.0\.1:5432\/guardkit_test_/,
    );
    assert.match(output, new RegExp(`ingestor ready: progress\\.json under ${env.root}`));
    assert.match(output, /gateway listening: dashboard at .*API docs at \/docs/);
    assert.match(output, new RegExp(`curl -N ${url}/builds/TASK-DEMO-001/events`));
  });

  it("plays the demo under the README's id where the ingestor watches, and curl sees it to the end", async () => {
    const url = `http://127.0.0.1:${port}`;
    const stream = await SseClient.open(`${url}/builds/TASK-DEMO-001/events`);
    const demo = await promisify(execFile)(process.execPath, ['dist/scripts/demo.js', 'TASK-DEMO-001'], {
      cwd: REPO,
      env: { ...env.processEnv(), GATEWAY_PORT: String(port), DEMO_STEP_MS: '30' },
    });
    assert.match(demo.stdout, /Playing GuardKit build TASK-DEMO-001/);
    await stream.ended;
    assert.equal(stream.events.at(-1)?.event, 'end');
    assert.ok(stream.events.length > 10, `${stream.events.length} events`);
  });

  it('stops all three on Ctrl-C (SIGINT), with status 0', async () => {
    const exited = new Promise<number | null>((resolve) => start.once('exit', (code) => resolve(code)));
    start.kill('SIGINT');
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 15_000).unref()),
    ]);
    assert.equal(code, 0, output.slice(-2000));
  });
});
