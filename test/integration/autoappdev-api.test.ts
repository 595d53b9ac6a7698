import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, PipelineClient, Stack, TestEnv } from '#test-support';

const PWA = 'http://127.0.0.1:5173';
type Json = Record<string, unknown>;

describe('AutoAppDev`s PWA drives guardkit-stream: its API, shapes and errors, over real HTTP', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: PipelineClient;

  before(async () => {
    env = await TestEnv.create({ GATEWAY_CORS_ORIGINS: PWA });
    stack = await Stack.start(env);
    client = new PipelineClient(stack.baseUrl, env);
  });
  after(() => stack?.stop());

  const call = async (method: string, path: string, body?: unknown, raw?: string) => {
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Origin: PWA },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    return {
      status: res.status,
      body: (await res.json()) as Json,
      cors: res.headers.get('access-control-allow-origin'),
    };
  };

  it('answers the PWA`s preflight for its origin, and no other', async () => {
    const preflight = (origin: string) =>
      fetch(`${stack.baseUrl}/api/pipeline/start`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type',
        },
      });
    const ok = await preflight(PWA);
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), PWA);
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /content-type/);
    assert.equal((await preflight('http://evil.example')).headers.get('access-control-allow-origin'), null);
    const health = await call('GET', '/api/health');
    assert.equal(health.cors, PWA);
    assert.deepEqual([health.body.ok, (health.body.db as Json).ok], [true, true]);
  });

  it('the pipeline state machine: stop when stopped is refused; start runs a script; pause, resume, and its logs', async () => {
    const cwd = await client.workspace();
    await writeFile(
      join(cwd, 'pwa.aaps'),
      [
        'AUTOAPPDEV_PIPELINE 1',
        'TASK {"id":"t1","title":"From the PWA"}',
        'STEP {"id":"s","title":"Work","block":"work"}',
        'ACTION {"id":"a1","kind":"run","params":{"cmd":"sleep 1; echo FIRST"}}',
        'ACTION {"id":"a2","kind":"run","params":{"cmd":"echo SECOND"}}',
      ].join('\n'),
    );
    assert.deepEqual((await call('GET', '/api/pipeline/status')).body, {
      status: { running: false, pid: null, run_id: null, state: 'idle' },
    });
    assert.deepEqual((await call('POST', '/api/pipeline/stop', {})).body, {
      ok: false,
      error: 'invalid_transition',
      from: 'stopped',
      action: 'stop',
      detail: 'cannot stop when stopped',
    });
    assert.deepEqual((await call('POST', '/api/pipeline/start', { args: 'x', cwd })).body, {
      ok: false,
      error: 'args_must_be_list',
    });
    const missing = await call('POST', '/api/pipeline/start', { script: 'missing.aaps', cwd });
    assert.deepEqual([missing.status, missing.body.error], [404, 'script_not_found']);

    const started = await call('POST', '/api/pipeline/start', { script: 'pwa.aaps', cwd, args: [] });
    assert.equal(started.status, 200);
    assert.equal(started.body.ok, true);
    assert.equal(started.body.pid, null);
    const runId = started.body.run_id as string;
    const again = await call('POST', '/api/pipeline/start', { script: 'pwa.aaps', cwd });
    assert.deepEqual(
      [again.status, again.body.error, again.body.from],
      [400, 'invalid_transition', 'running'],
    );
    assert.deepEqual((await call('POST', '/api/pipeline/pause', {})).body, { ok: true });
    await eventually(
      async () =>
        ((await call('GET', '/api/pipeline')).body.pipeline as Json).state === 'paused' || undefined,
    );
    assert.equal((await call('POST', '/api/pipeline/pause', {})).body.error, 'invalid_transition');
    assert.deepEqual((await call('POST', '/api/pipeline/resume', {})).body, { ok: true });
    await client.until(runId, ['completed']);
    const pipeline = (await call('GET', '/api/pipeline')).body.pipeline as Json;
    assert.deepEqual([pipeline.state, pipeline.run_id], ['stopped', runId]);

    const logs = (await call('GET', '/api/logs?source=pipeline&since=0&limit=500')).body;
    const lines = (logs.lines as { id: number; line: string; source: string }[]).map((l) => l.line);
    assert.ok(lines.includes('FIRST') && lines.includes('SECOND'), lines.join('\n'));
    const next = logs.next as number;
    assert.deepEqual((await call('GET', `/api/logs?source=pipeline&since=${next}`)).body.lines, []);
    const tail = (await call('GET', '/api/logs/tail?name=pipeline&lines=10')).body;
    assert.equal(tail.name, 'pipeline');
    assert.ok((tail.lines as string[]).includes('SECOND'));
    assert.deepEqual(await call('GET', '/api/logs/tail?name=nginx').then((r) => [r.status, r.body]), [
      400,
      { error: 'unknown_log' },
    ]);
  });

  it('saved scripts: create (parsed on save), read, update, delete, with AutoAppDev`s errors; start runs the latest', async () => {
    assert.equal((await call('POST', '/api/scripts', [1])).body.error, 'invalid_body');
    assert.equal((await call('POST', '/api/scripts', { script_text: '  ' })).body.error, 'empty_script');
    assert.equal(
      (await call('POST', '/api/scripts', { script_text: 'x', script_version: 'one' })).body.error,
      'invalid_script_version',
    );
    assert.equal((await call('POST', '/api/scripts', null, '{oops')).body.error, 'invalid_json');
    const text =
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"Saved"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"run","params":{"cmd":"echo SAVED"}}\n';
    const created = await call('POST', '/api/scripts', { title: ' Mine ', script_text: text });
    assert.equal(created.status, 200);
    const script = created.body.script as Json;
    assert.equal(script.title, 'Mine');
    assert.equal(((script.ir as Json).tasks as Json[])[0].id, 't', 'the IR was parsed on save');
    const id = script.id as number;
    assert.ok(((await call('GET', '/api/scripts')).body.scripts as Json[]).some((s) => s.id === id));
    assert.equal(((await call('GET', `/api/scripts/${id}`)).body.script as Json).script_text, text);
    assert.equal((await call('PUT', `/api/scripts/${id}`, {})).body.error, 'no_fields');
    assert.equal((await call('PUT', `/api/scripts/${id}`, { title: 5 })).body.error, 'invalid_title');
    const updated = await call('PUT', `/api/scripts/${id}`, {
      script_text: text.replace('Saved', 'Changed'),
    });
    assert.equal((((updated.body.script as Json).ir as Json).tasks as Json[])[0].title, 'Changed');
    const broken = await call('PUT', `/api/scripts/${id}`, { script_text: 'AUTOAPPDEV_PIPELINE 1\nTASK {}' });
    assert.equal(
      (broken.body.parse_error as Json).error,
      'missing_or_invalid_field',
      'saved, and told it does not parse',
    );
    await call('PUT', `/api/scripts/${id}`, { script_text: text });

    const cwd = await client.workspace();
    const started = await call('POST', '/api/pipeline/start', { cwd });
    assert.equal(started.body.ok, true, JSON.stringify(started.body));
    await client.until(started.body.run_id as string, ['completed']);
    assert.ok(
      (await client.lines(started.body.run_id as string, (l) => l.includes('SAVED'))).includes('SAVED'),
    );

    assert.deepEqual((await call('DELETE', `/api/scripts/${id}`)).body, { ok: true });
    assert.deepEqual(await call('GET', `/api/scripts/${id}`).then((r) => [r.status, r.body.error]), [
      404,
      'not_found',
    ]);
    assert.deepEqual(await call('GET', '/api/scripts/abc').then((r) => [r.status, r.body.error]), [
      400,
      'invalid_id',
    ]);
  });

  it('imports an annotated shell script, and says where it is wrong', async () => {
    const shell =
      '#!/bin/bash\n# AAPS: AUTOAPPDEV_PIPELINE 1\n# AAPS: TASK {"id":"t","title":"T"}\necho hi\n';
    const ok = await call('POST', '/api/scripts/import-shell', { shell_text: shell });
    assert.deepEqual(
      [ok.body.ok, ok.body.script_format, ok.body.script_text],
      [true, 'aaps', 'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T"}'],
    );
    assert.deepEqual(
      (
        await call('POST', '/api/scripts/import-shell', {
          shell_text: 'echo\n# AAPS: AUTOAPPDEV_PIPELINE 1\n# AAPS: BOGUS {}',
        })
      ).body,
      {
        ok: false,
        error: 'unknown_keyword',
        line: 3,
        detail: 'unknown keyword: BOGUS',
      },
    );
    assert.equal(
      (await call('POST', '/api/scripts/import-shell', { shell_text: 'echo' })).body.error,
      'missing_annotations',
    );
    assert.equal(
      (await call('POST', '/api/scripts/import-shell', { shell_text: 3 })).body.error,
      'invalid_shell_text',
    );
  });

  it('the inbox: stored, listed, and written to runtime/inbox/ for runners', async () => {
    assert.equal((await call('POST', '/api/inbox', { content: '   ' })).body.error, 'empty');
    assert.equal((await call('POST', '/api/inbox', { content: 'x'.repeat(10_001) })).body.error, 'too_long');
    assert.deepEqual((await call('POST', '/api/inbox', { content: ' focus on the tests ' })).body, {
      ok: true,
    });
    const messages = (await call('GET', '/api/inbox?limit=5')).body.messages as Json[];
    assert.deepEqual([messages.at(-1)?.role, messages.at(-1)?.content], ['user', 'focus on the tests']);
    const folder = join(env.root, 'runtime', 'inbox');
    const files = (await readdir(folder)).filter((f) => f.endsWith('_user.md'));
    assert.equal(files.length, 1);
    assert.equal(await readFile(join(folder, files[0]), 'utf8'), 'focus on the tests');
  });

  it('says plainly what it does not provide, and leaves the rest of /api alone', async () => {
    const chat = await call('GET', '/api/chat');
    assert.deepEqual([chat.status, chat.body.ok, chat.body.error], [404, false, 'not_supported']);
    assert.match(chat.body.detail as string, /LLM chat, autopilot/);
    assert.equal((await call('POST', '/api/autopilot/start', {})).body.error, 'not_supported');
    assert.equal((await call('GET', '/api/outbox')).status, 200);
    assert.equal(
      (await call('POST', '/api/scripts/parse', { script_text: 'AUTOAPPDEV_PIPELINE 1' })).body.error,
      'missing_task',
    );
  });
});
