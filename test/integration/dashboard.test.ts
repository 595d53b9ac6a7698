/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { loadSettings } from '#platform';
import {
  FAKE_WORKFLOW_AGENT,
  PipelineClient,
  playBuild,
  playDemo,
  Stack,
  TestEnv,
  WorkflowClient,
} from '#test-support';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';
import { ARTIFACTS_DIR, launchBrowser } from '../support/browser.js';

const SECRET = 'a-dashboard-test-secret-of-thirty-two-bytes';

/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against the real services.
 * Each test leaves a screenshot in test-artifacts/.
 */
describe('the dashboard in Chromium, against the real services', () => {
  let env: TestEnv;
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  let pipelineRun = '';

  before(async () => {
    // workflows run the scripted stand-in agent (examples/workflows/fake-agent.mjs; the real codex CLI is not here)
    env = await TestEnv.create({ SSE_HEARTBEAT_MS: '1000', AGENT_COMMAND: `node ${FAKE_WORKFLOW_AGENT}` });
    stack = await Stack.start(env);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function open(
    hash = '',
    viewport = { width: 1280, height: 800 },
    base = stack.baseUrl,
  ): Promise<Page> {
    await page?.close();
    page = await browser.newPage({ viewport });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/${hash}`);
    return page;
  }
  const shot = (name: string) =>
    page.screenshot({ path: join(ARTIFACTS_DIR, `dashboard-${name}.png`), fullPage: true });
  /** Records every value an attribute or text took in the page (a MutationObserver), for asserting later. */
  const record = (name: string, selector: string, read: string) =>
    page.evaluate(
      ({ name, selector, read }) => {
        const seen: string[] = [];
        (window as unknown as Record<string, string[]>)[name] = seen;
        const take = () => {
          for (const el of document.querySelectorAll(selector)) {
            const value = read === 'text' ? (el.textContent ?? '') : (el.getAttribute(read) ?? '');
            if (seen.at(-1) !== value) seen.push(value);
          }
        };
        new MutationObserver(take).observe(document.body, {
          subtree: true,
          childList: true,
          attributes: true,
          characterData: true,
        });
        take();
      },
      { name, selector, read },
    );
  const recorded = (name: string) =>
    page.evaluate((n) => (window as unknown as Record<string, string[]>)[n], name);

  it('the demo build`s bar moves from 0 to 100 and the list shows completed, without a reload', async () => {
    await open();
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'the same page'));
    await record('bar', 'tr[data-build="TASK-UI-1"] [role=progressbar]', 'aria-valuenow');
    await playDemo(env.processEnv(), 'TASK-UI-1', 150); // `npm run demo` itself
    await page.locator('tr[data-build="TASK-UI-1"][data-status="completed"]').waitFor({ timeout: 10_000 });
    const bar = (await recorded('bar')).map(Number);
    assert.equal(bar[0], 0, `it started at 0: ${bar.join(',')}`);
    assert.equal(bar.at(-1), 100);
    assert.ok(new Set(bar).size >= 4, `the bar moved: ${bar.join(',')}`);
    assert.deepEqual(
      bar,
      [...bar].sort((a, b) => a - b),
      'never backwards',
    );
    assert.equal(
      await page.evaluate(() => (window as unknown as { marker?: string }).marker),
      'the same page',
      'no reload',
    );
    assert.equal(await page.locator('#conn-text').textContent(), 'live');
    await shot('builds');
    // the search narrows the list; an id it does not hold can still be opened
    await page.getByRole('searchbox', { name: 'Search builds' }).fill('TASK-UI-1');
    assert.equal(await page.locator('tbody tr:not([hidden])').count(), 1);
    await page.getByRole('searchbox', { name: 'Search builds' }).fill('TASK-UI-LATER');
    await page.getByRole('link', { name: 'Open build TASK-UI-LATER' }).click();
    await page.getByText('No status yet: waiting for its first event.').waitFor();
  });

  it('a build page survives the gateway restarting mid-build and shows every event once', async () => {
    const id = 'TASK-UI-RESTART';
    await open(`#/builds/${id}`);
    await record('conn', '#conn-text', 'text');
    const playing = playBuild(env.root, id, { steps: 14, stepMs: 250 });
    await page.locator('ol.timeline li').nth(2).waitFor({ timeout: 10_000 });
    await stack.restartGateway(1000);
    await playing;
    await page.locator('dd .badge.completed').waitFor({ timeout: 15_000 });
    const stored = await env.storedOn(env.subjects.buildStatus(id));
    // each stream resumes on its own (EventSource's retry): the build's own may come back after the list's
    await page.waitForFunction(
      (n) => document.querySelectorAll('ol.timeline li').length >= n,
      stored.length,
      {
        timeout: 15_000,
      },
    );
    await page.waitForTimeout(500); // and nothing more comes
    const timeline = await page.locator('ol.timeline li').allTextContents();
    assert.equal(timeline.length, stored.length, `every event once:\n${timeline.join('\n')}`);
    assert.equal(
      new Set(timeline.map((t) => t.replace(/^\S+ \S+/, ''))).size,
      timeline.length,
      'no event twice',
    );
    const conn = await recorded('conn');
    assert.ok(
      conn.some((c) => c === 'reconnecting…' || c === 'gateway unreachable'),
      `the outage was shown: ${conn.join(' → ')}`,
    );
    // every stream of the page is back (each on its own retry)
    await page.locator('#conn-text', { hasText: /^live$/ }).waitFor({ timeout: 15_000 });
    await shot('build');
  });

  it('a pipeline`s output appears live on its page, with its commands', async () => {
    const client = new PipelineClient(stack.baseUrl, env);
    const script =
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"Count"}\nSTEP {"id":"s","title":"Say","block":"work"}\n' +
      'ACTION {"id":"a","kind":"run","params":{"cmd":"for i in $(seq 1 12); do echo line-$i; sleep 0.5; done"}}\n';
    const runId = await client.start({ script_text: script, cwd: await client.workspace() });
    pipelineRun = runId;
    await open(`#/builds/${runId}`);
    const logs = page.locator('pre.logs');
    await logs.getByText('line-2').waitFor({ timeout: 15_000 });
    assert.ok(!(await logs.textContent())!.includes('line-12'), 'line 2 came while the action still ran');
    assert.equal(
      await page.getByRole('button', { name: 'Pause' }).isEnabled(),
      true,
      'a running pipeline can be paused',
    );
    await logs.getByText('line-12').waitFor({ timeout: 15_000 });
    await client.until(runId, ['completed']);
    await page.getByRole('button', { name: 'Retry' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Pause' }).isDisabled(), true);
    await page
      .locator('section', { hasText: 'Pipeline' })
      .locator('.badge.completed')
      .waitFor({ timeout: 10_000 });
    await shot('pipeline');
  });

  it('a workflow`s page shows its roles round by round, their answers, and its diff', async () => {
    const client = new WorkflowClient(stack.baseUrl, env);
    const id = await client.start({ description: 'Add a greeting', cwd: await client.repository() });
    await open(`#/builds/${id}`);
    const reviewer = page.locator('section tr', { hasText: 'reviewer' });
    await reviewer.locator('.badge.succeeded').waitFor({ timeout: 30_000 });
    assert.ok(
      (await page.locator('section tr', { hasText: 'analyst-1' }).textContent())!.includes('succeeded'),
    );
    await page.getByRole('button', { name: 'r1.diff' }).click();
    await page.locator('pre.artifact .add').first().waitFor();
    assert.match((await page.locator('pre.artifact').last().textContent())!, /^diff --git/m);
    await shot('workflow');
  });

  it('posts to the outbox and wakes an agent from the page; both show up live', async () => {
    await open('#/outbox');
    await page.getByLabel('Message (posted as source api)').fill('hello from the dashboard');
    await page.getByRole('button', { name: 'Post' }).click();
    await page.locator('.messages li', { hasText: 'hello from the dashboard' }).waitFor({ timeout: 10_000 });
    await fetch(`${stack.baseUrl}/api/outbox`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: 'posted elsewhere', role: 'system' }),
    });
    await page.locator('.messages li', { hasText: 'posted elsewhere' }).waitFor({ timeout: 10_000 });
    assert.equal(
      await page.locator('.messages li', { hasText: 'hello from the dashboard' }).count(),
      1,
      'once',
    );
    await shot('outbox');

    await open('#/triggers');
    await page.getByLabel('Agent', { exact: true }).fill('agent-ui');
    await page.getByLabel('Workspace').fill('ws-ui');
    await page.getByLabel('Thread').fill('thread-ui');
    await page.getByLabel('Reason').fill('a test');
    await page.getByLabel(/Prompt/).fill('please look');
    await page.getByRole('button', { name: 'Wake the agent' }).click();
    const row = page.locator('tr[data-trigger]', { hasText: 'agent-ui' });
    await row.waitFor({ timeout: 10_000 });
    // no session and no spawn command here: it ends failed, and the page shows it without a reload
    await row.locator('.badge.failed').waitFor({ timeout: 15_000 });
    await shot('triggers');
  });

  it('at 360 px every page fits the width, and the keyboard reaches a build', async () => {
    for (const [name, hash] of [
      ['builds', ''],
      ['build', '#/builds/TASK-UI-1'],
      ['outbox', '#/outbox'],
      ['triggers', '#/triggers'],
      ['sessions', '#/sessions'],
      ['rejections', '#/rejections'],
      ['agents', '#/agents'],
    ]) {
      await open(hash, { width: 360, height: 740 });
      await page.locator('main h1').waitFor();
      await page.waitForTimeout(300);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `${name} is ${width} px wide`);
      await shot(`${name}-360`);
    }
    await open();
    await page.locator('tr[data-build="TASK-UI-1"]').waitFor();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.getAttribute('href'))) === '#/builds/TASK-UI-1')
        break;
    }
    await page.keyboard.press('Enter');
    await page.locator('h1', { hasText: 'TASK-UI-1' }).waitFor();
    assert.match(page.url(), /#\/builds\/TASK-UI-1$/);
  });

  it('says which part is down: with the orchestrator away, lists wait and live updates go on', async () => {
    await stack.orchestrator?.close();
    stack.orchestrator = undefined;
    try {
      await open();
      await page
        .locator('#problems', { hasText: 'The orchestrator does not answer' })
        .waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#conn-text').textContent(), 'live (orchestrator away)');
      await playBuild(env.root, 'TASK-UI-AWAY', { steps: 2, stepMs: 100 });
      await page
        .locator('tr[data-build="TASK-UI-AWAY"][data-status="completed"]')
        .waitFor({ timeout: 10_000 });
      await shot('orchestrator-away');
    } finally {
      stack.orchestrator = await createOrchestrator(env.settings);
    }
  });

  it('with access on, asks for a token, signs in with it, and shows what it may read', async () => {
    const settings = loadSettings({ ...env.vars, GATEWAY_PORT: '0', GATEWAY_JWT_SECRET: SECRET }, env.root);
    const keyed: NestExpressApplication = await createGateway(settings);
    try {
      const base = `http://127.0.0.1:${(keyed.getHttpServer().address() as { port: number }).port}`;
      await playBuild(env.root, 'OTHER-UI-1', { steps: 1, stepMs: 50 }); // not readable with the token below
      await open('', undefined, base);
      const dialog = page.locator('dialog#sign-in');
      await dialog.waitFor({ state: 'visible', timeout: 10_000 });
      await page.getByLabel('Token').fill('not-a-token');
      await dialog.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#sign-in-error', { hasText: /./ }).waitFor();
      const jwt = await new SignJWT({ gk: { builds: ['TASK-UI-*', 'run-*'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('dashboard-test')
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(SECRET));
      await page.getByLabel('Token').fill(jwt);
      await dialog.getByRole('button', { name: 'Sign in' }).click();
      await dialog.waitFor({ state: 'hidden' });
      await page.locator('tr[data-build="TASK-UI-1"]').waitFor({ timeout: 10_000 });
      await page.locator('tr[data-build="TASK-UI-AWAY"]').waitFor();
      assert.equal(await page.locator('tr[data-build="OTHER-UI-1"]').count(), 0, 'not readable: not listed');
      // live over the cookie, too
      await playBuild(env.root, 'TASK-UI-SIGNED', { steps: 2, stepMs: 100 });
      await page
        .locator('tr[data-build="TASK-UI-SIGNED"][data-status="completed"]')
        .waitFor({ timeout: 10_000 });
      const cookies = await page.context().cookies();
      assert.ok(
        cookies.some((c) => c.httpOnly),
        'the token is in an HttpOnly cookie',
      );
      assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read it');
      await shot('signed-in');
      // a build it may read but not control: no commands
      await page.goto(`${base}/#/builds/${pipelineRun}`);
      await page
        .getByText('This token may watch this build but not control it.')
        .waitFor({ timeout: 10_000 });
      assert.equal(await page.getByRole('button', { name: 'Retry' }).count(), 0);
      await page.locator('pre.logs', { hasText: 'line-12' }).waitFor();
    } finally {
      await keyed.close();
    }
  });

  it('raised no script errors', () => {
    assert.deepEqual(errors, []);
  });
});
