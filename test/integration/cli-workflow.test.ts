import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FAKE_WORKFLOW_AGENT, Stack, TestEnv, WorkflowClient } from '#test-support';
import { captureOutput } from '../../apps/cli/src/output.js';
import { runCli } from '../../apps/cli/src/program.js';

// The agent is examples/workflows/fake-agent.mjs, the scripted stand-in shipped for trying workflows.
describe('guardkit-stream workflow start --follow, against the real services', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: WorkflowClient;

  before(async () => {
    env = await TestEnv.create({
      AGENT_COMMAND: `node ${FAKE_WORKFLOW_AGENT}`,
      WORKFLOW_RETRY_BACKOFF_MS: '50',
    });
    stack = await Stack.start(env);
    client = new WorkflowClient(stack.baseUrl, env);
  });
  after(() => stack?.stop());

  it('prints every role`s progress and its agents` output, the roles and the diff, and exits 0 when it completes', async () => {
    const { output, stdout, stderr } = captureOutput();
    const cwd = await client.repository();
    const code = await runCli(
      ['workflow', 'start', 'Add a greeting', '--cwd', cwd, '--follow', '--url', stack.baseUrl],
      output,
    );
    assert.equal(code, 0, [...stderr, ...stdout].join('\n'));
    assert.ok(
      stdout.includes('AGENT role=implementer node=implementer round=1 attempt=1 model=gpt-5.3-codex'),
      stdout.join('\n'),
    );
    assert.ok(
      stderr.some((l) => /^\[running \d+%\] stage 4\/6 implementer · round 1\/3 · started$/.test(l)),
      stderr.join('\n'),
    );
    assert.ok(stderr.includes('  r1 reviewer: succeeded'), stderr.join('\n'));
    assert.ok(stderr.some((l) => /^ {2}diff: http:.*\/artifacts\/r1\.diff$/.test(l)));
  });

  it('exits 1 with the reason when the workflow fails, and 2 when it is refused', async () => {
    const { output, stderr } = captureOutput();
    const cwd = await client.repository();
    const code = await runCli(
      ['workflow', 'start', 'Impossible\nFAKE blocked consensus', '--cwd', cwd, '-f', '--url', stack.baseUrl],
      output,
    );
    assert.equal(code, 1);
    assert.match(stderr.at(-1) ?? '', /failed: consensus is blocked: consensus cannot go on$/);
    assert.equal(
      await runCli(['workflow', 'start', 'x', '--cwd', env.root, '--url', stack.baseUrl], output),
      2,
    );
    assert.match(stderr.at(-1) ?? '', /not a git repository with a commit/);
  });
});
