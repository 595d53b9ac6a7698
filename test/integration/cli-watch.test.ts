import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadSettings } from '#platform';
import { eventually, PipelineClient, playBuild, playDemo, Stack, TestEnv, TmuxServer } from '#test-support';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';
import { GatewayMetrics } from '../../apps/gateway/src/metrics/metrics.js';
import { captureOutput } from '../../apps/cli/src/output.js';
import { runCli } from '../../apps/cli/src/program.js';
import { ARTIFACTS_DIR } from '../support/browser.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SECRET = 'a-cli-test-secret-of-thirty-two-bytes-or-more';

/** The CLI as a person runs it: `node bin/guardkit-stream.mjs …` in a process of its own. */
function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/guardkit-stream.mjs', ...args],
      { cwd: REPO, env },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the guardkit-stream CLI in a real terminal (tmux) and as a script, against the real services', () => {
  let env: TestEnv;
  let stack: Stack;
  let tmux: TmuxServer;
  let cliEnv: NodeJS.ProcessEnv;

  before(async () => {
    env = await TestEnv.create();
    stack = await Stack.start(env);
    tmux = new TmuxServer(env.tmuxSocket);
    cliEnv = { ...process.env, GUARDKIT_URL: stack.baseUrl, NO_COLOR: '' };
  });
  after(() => stack?.stop());

  /**
   * Runs a command in a tmux pane (a real terminal: bars, not lines); once the pane shows `ready`, plays
   * `play`, and returns what the pane showed over time.
   */
  async function inTerminal(
    name: string,
    args: string[],
    ready: RegExp,
    play: (pane: () => string) => Promise<void>,
  ): Promise<string[]> {
    const command = `cd ${REPO} && GUARDKIT_URL=${stack.baseUrl} node bin/guardkit-stream.mjs ${args.join(' ')}; echo EXIT=$?; sleep 600`;
    await tmux.run('new-session', '-d', '-s', name, '-x', '160', '-y', '20', command);
    const frames: string[] = [''];
    let watching = true;
    const capturing = (async () => {
      while (watching) {
        frames.push(await tmux.capture(name));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await eventually(() => (ready.test(frames.at(-1)!) ? true : undefined), 15_000, `pane shows ${ready}`);
      await play(() => frames.at(-1)!);
      await eventually(
        () => (frames.at(-1)!.includes('EXIT=') ? true : undefined),
        15_000,
        'the command ends',
      );
    } finally {
      watching = false;
      await capturing;
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      await writeFile(join(ARTIFACTS_DIR, `cli-${name}.txt`), frames.at(-1) ?? '');
    }
    return frames;
  }

  const percentsOf = (frames: string[], buildId: string) => [
    ...new Set(
      frames.flatMap((f) =>
        [...f.matchAll(new RegExp(`${buildId} \\|[^|]*\\|\\s*(\\d+)%`, 'g'))].map((m) => Number(m[1])),
      ),
    ),
  ];

  it('watch: moving bars in a terminal, exit 0 when every build completed, across a gateway restart', async () => {
    const frames = await inTerminal(
      'watch-ok',
      ['watch', 'TASK-CLI-A', 'TASK-CLI-B'],
      /TASK-CLI-B \|/,
      async (pane) => {
        const a = playBuild(env.root, 'TASK-CLI-A', { steps: 20, stepMs: 250 });
        const b = playDemo(env.processEnv(), 'TASK-CLI-B', 150); // `npm run demo` itself
        // mid-build, the gateway goes away and comes back on the same port
        await eventually(() => (/TASK-CLI-A \|[^|]*\|\s*[1-9]\d?%/.test(pane()) ? true : undefined));
        await stack.restartGateway(600);
        await Promise.all([a, b]);
      },
    );
    const last = frames.at(-1)!;
    assert.match(last, /EXIT=0/, last);
    assert.match(last, /TASK-CLI-A: completed/);
    assert.match(last, /TASK-CLI-B: completed/);
    const seen = percentsOf(frames, 'TASK-CLI-A');
    const afterRestart = percentsOf(
      frames.slice(frames.findIndex((f) => f.includes('reconnecting'))),
      'TASK-CLI-A',
    );
    assert.ok(
      afterRestart.filter((p) => p > 0 && p < 100).length >= 2,
      `live again after the restart: ${afterRestart.join(',')}`,
    );
    assert.ok(seen.includes(100), `reached 100%: ${seen.join(',')}`);
    assert.ok(seen.filter((p) => p > 0 && p < 100).length >= 3, `the bar moved: ${seen.join(',')}`);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'it never went back',
    );
  });

  it('watch: exit 1 when a build failed', async () => {
    const frames = await inTerminal('watch-failed', ['watch', 'TASK-CLI-F'], /TASK-CLI-F \|/, () =>
      playBuild(env.root, 'TASK-CLI-F', { steps: 3, stepMs: 200, final: 'failed' }),
    );
    assert.match(frames.at(-1)!, /EXIT=1/, frames.at(-1));
    assert.match(frames.at(-1)!, /TASK-CLI-F: failed/);
  });

  it('watch: Ctrl-C stops it with exit 130', async () => {
    const frames = await inTerminal(
      'watch-interrupted',
      ['watch', 'TASK-CLI-NEVER'],
      /TASK-CLI-NEVER \|/,
      async () => {
        await tmux.run('send-keys', '-t', 'watch-interrupted', 'C-c');
      },
    );
    assert.match(frames.at(-1)!, /EXIT=130/, frames.at(-1));
  });

  it('watch --json, builds --json: every line parses; the last says how the watch ended', async () => {
    const watching = cli(['watch', 'TASK-CLI-J', '--json'], cliEnv);
    // the CLI connects before the build starts: an unknown id streams and waits (SPEC 4.2)
    const open = async () =>
      (await stack.gateway.get(GatewayMetrics).sseClients.get()).values.reduce((n, v) => n + v.value, 0);
    await eventually(async () => ((await open()) > 0 ? true : undefined));
    await playBuild(env.root, 'TASK-CLI-J', { steps: 3, stepMs: 150 });
    const { code, stdout } = await watching;
    assert.equal(code, 0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l['event'] === 'status' && l['status'] === 'running'));
    assert.deepEqual(lines.at(-1), { event: 'done', builds: { 'TASK-CLI-J': 'completed' }, exit: 0 });
    assert.ok(!stdout.includes('\u001b['), 'no colours outside a terminal');

    // the listing is the projection, which may trail the stream by PROJECTION_BATCH_MS
    const page = await eventually(async () => {
      const builds = await cli(['builds', '--json', '--limit', '50'], cliEnv);
      assert.equal(builds.code, 0, builds.stderr);
      const listed = JSON.parse(builds.stdout) as { items: { build_id: string; status: string }[] };
      return listed.items.find((b) => b.build_id === 'TASK-CLI-J')?.status === 'completed'
        ? listed
        : undefined;
    });
    assert.equal(page.items.find((b) => b.build_id === 'TASK-CLI-J')?.status, 'completed');
    const plain = await cli(['builds', '--status', 'failed'], cliEnv);
    assert.match(plain.stdout, /^TASK-CLI-F\s+failed\s+/m);
  });

  it('logs prints what is kept and stops; logs -f follows a running pipeline to its end', async () => {
    const client = new PipelineClient(stack.baseUrl, env);
    const cwd = await client.workspace();
    const script =
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\n' +
      'ACTION {"id":"a","kind":"run","params":{"cmd":"for i in 1 2 3 4 5; do echo line-$i; sleep 0.3; done"}}\n';
    const runId = await client.start({ script_text: script, cwd });
    const following = cli(['logs', runId, '-f'], cliEnv);
    await client.until(runId, ['completed', 'failed']);
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    for (let i = 1; i <= 5; i++) assert.match(followed.stdout, new RegExp(`^line-${i}$`, 'm'));
    const kept = await cli(['logs', runId, '--json'], cliEnv);
    assert.equal(kept.code, 0, kept.stderr);
    const lines = kept.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { line: string }).line);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('line-')),
      ['line-1', 'line-2', 'line-3', 'line-4', 'line-5'],
    );
  });

  it('trigger and outbox write: what they send is on the gateway; bad input exits 2 with the reason', async () => {
    const { output, stdout, stderr } = captureOutput();
    assert.equal(
      await runCli(
        [
          'trigger',
          'agent-cli',
          'please look',
          '--thread',
          't-1',
          '--workspace',
          'ws-1',
          '--json',
          '--url',
          stack.baseUrl,
        ],
        output,
      ),
      0,
      stderr.join('\n'),
    );
    const created = JSON.parse(stdout[0]) as { trigger_id: string; decision: string };
    const view = (await (await fetch(`${stack.baseUrl}/triggers/${created.trigger_id}`)).json()) as {
      prompt: string;
      target_agent_id: string;
    };
    assert.equal(view.target_agent_id, 'agent-cli');
    assert.equal(view.prompt, 'please look');

    assert.equal(
      await runCli(['outbox', 'write', 'hello from the cli', 'system', '--url', stack.baseUrl], output),
      0,
    );
    await eventually(async () => {
      const { messages } = (await (await fetch(`${stack.baseUrl}/api/outbox`)).json()) as {
        messages: { content: string; role: string }[];
      };
      return messages.some((m) => m.content === 'hello from the cli' && m.role === 'system')
        ? true
        : undefined;
    });

    const bad = captureOutput();
    assert.equal(
      await runCli(
        ['trigger', 'bad agent!', 'x', '--thread', 't', '--workspace', 'w', '--url', stack.baseUrl],
        bad.output,
      ),
      2,
    );
    assert.match(bad.stderr.join('\n'), /400 .*target_agent_id/);
    assert.equal(await runCli(['watch', '--url', stack.baseUrl], bad.output), 2, 'no build named');
    const badId = captureOutput();
    assert.equal(await runCli(['watch', 'bad.id', '--url', stack.baseUrl], badId.output), 2);
    assert.match(badId.stderr.join('\n'), /\/events: 400 \w+: .*build id/, 'the gateway`s reason');
    assert.ok(!badId.stderr.join('\n').includes('reconnecting'), 'a refusal is not an outage');
  });

  it('--token / GUARDKIT_TOKEN: a gateway with access on answers the CLI with a token, and 401 without', async () => {
    const settings = loadSettings({ ...env.vars, GATEWAY_PORT: '0', GATEWAY_JWT_SECRET: SECRET }, env.root);
    const keyed: NestExpressApplication = await createGateway(settings);
    try {
      const url = `http://127.0.0.1:${(keyed.getHttpServer().address() as { port: number }).port}`;
      const jwt = await new SignJWT({ gk: { builds: ['TASK-CLI-*'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(SECRET));
      const refused = await cli(['builds', '--url', url], cliEnv);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /401.*--token or GUARDKIT_TOKEN/);
      const allowed = await cli(['watch', 'TASK-CLI-J', '--json', '--url', url], {
        ...cliEnv,
        GUARDKIT_TOKEN: jwt,
      });
      assert.equal(allowed.code, 0, allowed.stderr);
      const listed = await cli(['builds', '--json', '--url', url, '--token', jwt], cliEnv);
      assert.equal(listed.code, 0, listed.stderr);
      const ids = (JSON.parse(listed.stdout) as { items: { build_id: string }[] }).items.map(
        (b) => b.build_id,
      );
      assert.ok(ids.length > 0 && ids.every((id) => id.startsWith('TASK-CLI-')), ids.join(','));
    } finally {
      await keyed.close();
    }
  });
});
