import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack, TestEnv } from '#test-support';

describe('the OpenAPI document of the gateway', () => {
  let env: TestEnv;
  let stack: Stack;
  before(async () => {
    env = await TestEnv.create();
    stack = await Stack.start(env);
  });
  after(() => stack?.stop());

  it('is served at /docs (UI) and /docs/openapi.json, with every endpoint and the request schemas', async () => {
    const ui = await fetch(`${stack.baseUrl}/docs`);
    assert.equal(ui.status, 200);
    assert.match(ui.headers.get('content-type') ?? '', /text\/html/);
    const doc = (await (await fetch(`${stack.baseUrl}/docs/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { tags?: string[] }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
    };
    assert.match(doc.openapi, /^3\./);
    for (const path of [
      '/builds',
      '/builds/{id}',
      '/builds/{id}/events',
      '/events',
      '/api/outbox',
      '/outbox/events',
      '/triggers',
      '/triggers/{id}',
      '/triggers/{id}/events',
      '/triggers/{id}/replay',
      '/triggers/{id}/dead-letter',
      '/threads/{thread_id}/progress',
      '/sessions',
      '/sessions/{id}',
      '/sessions/{id}/heartbeat',
      '/healthz',
      '/readyz',
      '/metrics',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.equal(doc.paths['/'], undefined, 'the dashboard page is not an API');
    const trigger = doc.components.schemas['CreateTriggerDto'];
    assert.deepEqual(Object.keys(trigger?.properties ?? {}).sort(), [
      'force_override',
      'idempotency_key',
      'prompt',
      'reason',
      'request_id',
      'target_agent_id',
      'thread_id',
      'workspace_id',
    ]);
    assert.deepEqual((trigger?.required ?? []).sort(), [
      'prompt',
      'reason',
      'target_agent_id',
      'thread_id',
      'workspace_id',
    ]);
  });

  it('gives every operation a summary and its error answers, documents bodies and query parameters', async () => {
    type Operation = {
      summary?: string;
      responses: Record<string, unknown>;
      requestBody?: unknown;
      parameters?: { name: string; in: string }[];
    };
    const doc = (await (await fetch(`${stack.baseUrl}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const missing: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const name = `${method.toUpperCase()} ${path}`;
        if (!op.summary) missing.push(`${name}: no summary`);
        const errors = Object.keys(op.responses).filter((status) => /^[45]\d\d$/.test(status));
        // only liveness, the metrics and signing out cannot fail in a way a caller can act on (AutoAppDev's
        // /api/health is liveness too: it answers 200, with `db.ok: false` when the database is away)
        const cannotFail =
          ['/healthz', '/metrics', '/api/health'].includes(path) || name === 'DELETE /auth/session';
        if (errors.length === 0 && !cannotFail) missing.push(`${name}: no error answers`);
        if (path.includes('{') && !errors.includes('400')) missing.push(`${name}: no 400 for a bad id`);
      }
    }
    assert.deepEqual(missing, []);
    const bodyOf = (path: string) => doc.paths[path]?.['post']?.requestBody;
    for (const path of ['/triggers', '/sessions', '/api/outbox', '/threads/{thread_id}/progress'])
      assert.ok(bodyOf(path), `POST ${path} documents its body`);
    const queryOf = (path: string) =>
      (doc.paths[path]?.['get']?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    assert.ok(queryOf('/events').includes('builds'));
    assert.ok(queryOf('/outbox/events').includes('source'));
    assert.ok(queryOf('/builds').includes('status'));
    assert.ok(queryOf('/ingest/rejections').includes('limit'));
  });
});
