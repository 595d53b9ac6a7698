import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SignJWT } from 'jose';
import type { INestApplicationContext } from '@nestjs/common';
import { eventually, freePort, payloadOf, ServiceProcess, SseClient, TestEnv } from '#test-support';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';

const SECRET = 'an-access-test-secret-of-thirty-two-bytes-or-more';
const AUDIENCE = 'guardkit';

type Rule =
  | 'public'
  | 'token'
  | 'build'
  | 'builds-query'
  | 'outbox'
  | 'outbox-post'
  | 'trigger-agent'
  | 'trigger-read'
  | 'trigger-any'
  | 'trigger'
  | 'run'
  | 'admin';

/**
 * Every route of the gateway, with its rule (SPEC 4.3) and a request that reaches it. A route the gateway serves
 * that is not here fails the first test: a new endpoint needs its access rule written down, here and on it.
 */
const ROUTES: Record<string, { rule: Rule; path: string; body?: unknown }> = {
  'GET /healthz': { rule: 'public', path: '/healthz' },
  'GET /readyz': { rule: 'public', path: '/readyz' },
  'GET /metrics': { rule: 'admin', path: '/metrics' },
  'GET /': { rule: 'public', path: '/' },
  'GET /ui/:file': { rule: 'public', path: '/ui/app.js' },
  'POST /auth/session': { rule: 'token', path: '/auth/session' },
  'DELETE /auth/session': { rule: 'public', path: '/auth/session' },
  'GET /audit': { rule: 'admin', path: '/audit' },
  'GET /builds': { rule: 'token', path: '/builds' },
  'GET /builds/:id': { rule: 'build', path: '/builds/TASK-1' },
  'GET /builds/:id/events': { rule: 'build', path: '/builds/TASK-1/events' },
  'GET /builds/:id/logs': { rule: 'build', path: '/builds/TASK-1/logs' },
  'GET /events': { rule: 'builds-query', path: '/events?builds=TASK-1' },
  'GET /api/outbox': { rule: 'outbox', path: '/api/outbox?source=local' },
  'POST /api/outbox': { rule: 'outbox-post', path: '/api/outbox', body: { content: 'hello' } },
  'GET /outbox/events': { rule: 'outbox', path: '/outbox/events?source=local' },
  'GET /ingest/rejections': { rule: 'admin', path: '/ingest/rejections' },
  'POST /triggers': {
    rule: 'trigger-agent',
    path: '/triggers',
    body: { workspace_id: 'w', thread_id: 't', target_agent_id: 'agent-1', reason: 'r', prompt: 'p' },
  },
  'GET /triggers': { rule: 'trigger-any', path: '/triggers' },
  'GET /triggers/events': { rule: 'trigger-any', path: '/triggers/events' },
  'GET /triggers/:id': { rule: 'trigger-read', path: '/triggers/TRIGGER' },
  'GET /triggers/:id/events': { rule: 'trigger-read', path: '/triggers/TRIGGER/events' },
  'POST /triggers/:id/replay': { rule: 'admin', path: '/triggers/tr-1/replay' },
  'DELETE /triggers/:id/dead-letter': { rule: 'admin', path: '/triggers/tr-1/dead-letter' },
  'POST /threads/:thread_id/progress': { rule: 'trigger', path: '/threads/t/progress', body: {} },
  'POST /sessions': { rule: 'admin', path: '/sessions', body: {} },
  'GET /sessions': { rule: 'admin', path: '/sessions' },
  'GET /sessions/:id': { rule: 'admin', path: '/sessions/s-1' },
  'POST /sessions/:id/heartbeat': { rule: 'admin', path: '/sessions/s-1/heartbeat', body: {} },
  'DELETE /sessions/:id': { rule: 'admin', path: '/sessions/s-1' },
  'POST /api/scripts/parse': { rule: 'token', path: '/api/scripts/parse', body: { script_text: '' } },
  'POST /pipelines': { rule: 'run', path: '/pipelines', body: {} },
  'GET /pipelines': { rule: 'run', path: '/pipelines' },
  'GET /pipelines/:id': { rule: 'run', path: '/pipelines/p-1' },
  'POST /pipelines/:id/:command': { rule: 'run', path: '/pipelines/p-1/pause' },
  'POST /workflows': { rule: 'run', path: '/workflows', body: {} },
  'GET /workflows': { rule: 'run', path: '/workflows' },
  'GET /workflows/:id': { rule: 'run', path: '/workflows/w-1' },
  'GET /workflows/:id/artifacts/:name': { rule: 'run', path: '/workflows/w-1/artifacts/r1.diff' },
  'POST /workflows/:id/:command': { rule: 'run', path: '/workflows/w-1/cancel' },
  'GET /agents': { rule: 'run', path: '/agents' },
  'PUT /agents/:role': { rule: 'admin', path: '/agents/tester', body: { concurrency: 1 } },
  'GET /api/health': { rule: 'token', path: '/api/health' },
  'GET /api/pipeline': { rule: 'run', path: '/api/pipeline' },
  'GET /api/pipeline/status': { rule: 'run', path: '/api/pipeline/status' },
  'POST /api/pipeline/:action': { rule: 'run', path: '/api/pipeline/pause' },
  'GET /api/scripts': { rule: 'run', path: '/api/scripts' },
  'POST /api/scripts': { rule: 'run', path: '/api/scripts', body: {} },
  'POST /api/scripts/import-shell': { rule: 'run', path: '/api/scripts/import-shell', body: {} },
  'GET /api/scripts/:id': { rule: 'run', path: '/api/scripts/1' },
  'PUT /api/scripts/:id': { rule: 'run', path: '/api/scripts/1', body: {} },
  'DELETE /api/scripts/:id': { rule: 'run', path: '/api/scripts/1' },
  'GET /api/inbox': { rule: 'run', path: '/api/inbox' },
  'POST /api/inbox': { rule: 'run', path: '/api/inbox', body: {} },
  'GET /api/logs': { rule: 'run', path: '/api/logs' },
  'GET /api/logs/tail': { rule: 'run', path: '/api/logs/tail' },
  'ALL /api/*path': { rule: 'token', path: '/api/not-a-thing' },
};

/** The gk claim that allows a rule, and one that does not (undefined: every valid token is allowed). */
const GRANTS: Record<Exclude<Rule, 'public'>, [allowed: object, refused?: object]> = {
  token: [{}],
  build: [{ builds: ['TASK-*'] }, { builds: ['OTHER-*'] }],
  'builds-query': [{ builds: ['TASK-*'] }, { builds: ['OTHER-*'] }],
  outbox: [{ outbox: ['local'] }, { outbox: ['other'] }],
  'outbox-post': [{ outbox: ['api'] }, { outbox: ['local'] }],
  'trigger-agent': [{ trigger: ['agent-*'] }, { trigger: ['robot-*'] }],
  'trigger-read': [{ trigger: ['agent-*'] }, { trigger: ['robot-*'] }],
  // any trigger grant lists (and follows) the triggers of its agents
  'trigger-any': [{ trigger: ['robot-*'] }, { builds: ['*'] }],
  trigger: [{ trigger: ['*'] }, { trigger: ['agent-*'] }],
  run: [{ run: true }, { builds: ['*'], admin: true }],
  admin: [{ admin: true }, { run: true, builds: ['*'] }],
};

describe('access (SPEC 4.3): every route with a key set, through real HTTP', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let orchestrator: INestApplicationContext;
  let base: string;

  before(async () => {
    env = await TestEnv.create({ GATEWAY_JWT_SECRET: SECRET, GATEWAY_JWT_AUDIENCE: AUDIENCE });
    orchestrator = await createOrchestrator(env.settings);
    gateway = await createGateway(env.settings);
    const address = gateway.getHttpServer().address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
    const created = await fetch(`${base}/triggers`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await token({ trigger: ['agent-*'] })}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(ROUTES['POST /triggers'].body),
    });
    assert.equal(created.status, 202, await created.clone().text());
    triggerId = ((await created.json()) as { trigger_id: string }).trigger_id;
  });
  after(() => env?.cleanup(gateway, orchestrator));

  const key = new TextEncoder().encode(SECRET);
  const token = (gk: object, options: { exp?: number; aud?: string; key?: Uint8Array } = {}) => {
    const jwt = new SignJWT({ gk }).setProtectedHeader({ alg: 'HS256' }).setSubject('test');
    jwt.setAudience(options.aud ?? AUDIENCE);
    jwt.setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 600);
    return jwt.sign(options.key ?? key);
  };
  /** A trigger of agent-1, made in `before` (TRIGGER in the paths above). */
  let triggerId = '';
  /** The status only: a stream that opens is closed at once. */
  async function status(method: string, path: string, jwt?: string, body?: unknown): Promise<number> {
    const controller = new AbortController();
    const res = await fetch(`${base}${path.replace('TRIGGER', triggerId)}`, {
      method: method === 'ALL' ? 'GET' : method,
      signal: controller.signal,
      headers: {
        ...(jwt ? { authorization: `Bearer ${jwt}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    controller.abort();
    return res.status;
  }

  it('knows the rule of every route the gateway serves', () => {
    const router = (gateway.getHttpAdapter().getInstance() as { router: { stack: unknown[] } }).router;
    const methodsByPath = new Map<string, Set<string>>();
    for (const layer of router.stack) {
      const route = (layer as { route?: { path: string; methods: Record<string, boolean> } }).route;
      if (!route) continue;
      const methods = methodsByPath.get(route.path) ?? new Set<string>();
      for (const method of Object.keys(route.methods)) methods.add(method.toUpperCase());
      methodsByPath.set(route.path, methods);
    }
    // Express 5 registers a route for every method as one per method; `{/*splat}` is the request logger's
    // middleware on every path, not an endpoint; /docs is the OpenAPI page
    const documented = [...methodsByPath].flatMap(([path, methods]) =>
      path === '{/*splat}' || path.startsWith('/docs')
        ? []
        : methods.size > 10
          ? [`ALL ${path}`]
          : [...methods].filter((m) => m !== 'HEAD').map((m) => `${m} ${path}`),
    );
    assert.deepEqual([...new Set(documented)].sort(), Object.keys(ROUTES).sort());
  });

  it('refuses a missing, forged, expired or other-audience token with 401 on every route but the public ones', async () => {
    const now = Math.floor(Date.now() / 1000);
    const bad = {
      none: undefined,
      forged: await token({ admin: true, run: true }, { key: new TextEncoder().encode('x'.repeat(40)) }),
      expired: await token({ admin: true }, { exp: now - 120 }),
      'other audience': await token({ admin: true }, { aud: 'someone-else' }),
    };
    for (const [route, { rule, path, body }] of Object.entries(ROUTES)) {
      const method = route.split(' ')[0];
      for (const [what, jwt] of Object.entries(bad)) {
        const got = await status(method, path, jwt, body);
        if (rule === 'public') assert.ok(got !== 401 && got !== 403, `${route} (${what}): ${got}`);
        else assert.equal(got, 401, `${route} with ${what} token`);
      }
    }
  });

  it('lets through exactly what the gk claim allows, and answers the rest 403', async () => {
    for (const [route, { rule, path, body }] of Object.entries(ROUTES)) {
      if (rule === 'public') continue;
      const method = route.split(' ')[0];
      const [allowed, refused] = GRANTS[rule];
      const got = await status(method, path, await token(allowed), body);
      assert.ok(got !== 401 && got !== 403, `${route} with ${JSON.stringify(allowed)}: ${got}`);
      // an admin token alone: the admin routes, the ones any token may use and a thread's progress, nothing else
      const adminOnly = await status(method, path, await token({ admin: true }), body);
      if (rule === 'admin' || rule === 'token' || rule === 'trigger')
        assert.ok(adminOnly !== 401 && adminOnly !== 403, `${route} as admin`);
      else assert.equal(adminOnly, 403, `${route} with an admin token and no ${rule} grant`);
      if (refused) {
        assert.equal(
          await status(method, path, await token(refused), body),
          403,
          `${route} with ${JSON.stringify(refused)}`,
        );
      }
    }
  });

  it('/events carries only readable builds; /builds lists only readable builds', async () => {
    const jwt = await token({ builds: ['TASK-*'] });
    assert.equal(await status('GET', '/events?builds=OTHER-1', jwt), 403, 'none of them readable');
    assert.equal(await status('GET', '/events?builds=OTHER-1,TASK-1', jwt), 200, 'the readable ones');
    await env.publishStatus('TASK-1', 1);
    await env.publishStatus('OTHER-1', 1);
    const list = async (gk: object) => {
      const res = await fetch(`${base}/builds`, { headers: { authorization: `Bearer ${await token(gk)}` } });
      return ((await res.json()) as { items: { build_id: string }[] }).items.map((b) => b.build_id).sort();
    };
    await eventually(async () => ((await list({ builds: ['*'] })).length === 2 ? true : undefined));
    assert.deepEqual(await list({ builds: ['TASK-*'] }), ['TASK-1']);
    assert.deepEqual(await list({ run: true }), [], 'no builds grant: none listed');

    // every build (`*`): only the readable ones' events
    const all = await SseClient.open(`${base}/events?builds=*`, { authorization: `Bearer ${jwt}` });
    assert.equal(all.status, 200);
    await env.publishStatus('OTHER-1', 2);
    const readable = await env.publishStatus('TASK-1', 2);
    await all.waitFor((events) => events.some((e) => Number(e.id) === readable));
    all.response.destroy();
    assert.deepEqual(
      [...new Set(all.events.filter((e) => e.event === 'status').map((e) => payloadOf(e.data).build_id))],
      ['TASK-1'],
    );
  });

  it('ends a stream with event: reauth before its token expires; resumed with a new token, nothing is missed', async () => {
    const id = 'TASK-REAUTH';
    const first = await env.publishStatus(id, 1);
    // valid 7 s: the stream asks for a new token 5 s before, about 2 s from now
    const short = await token({ builds: ['TASK-*'] }, { exp: Math.floor(Date.now() / 1000) + 7 });
    const client = await SseClient.open(`${base}/builds/${id}/events`, { authorization: `Bearer ${short}` });
    assert.equal(client.status, 200);
    await client.waitFor((events) => events.some((e) => e.event === 'status'));
    const second = await env.publishStatus(id, 2);
    await client.waitFor((events) => events.some((e) => e.event === 'reauth'), 8000);
    await client.ended;
    const third = await env.publishStatus(id, 3); // while the client is away
    const lastId = client.ids.at(-1)!;
    const again = await SseClient.open(`${base}/builds/${id}/events`, {
      authorization: `Bearer ${await token({ builds: ['TASK-*'] })}`,
      'Last-Event-ID': String(lastId),
    });
    await again.waitFor((events) => events.some((e) => Number(e.id) === third));
    again.response.destroy();
    assert.deepEqual([...client.ids, ...again.ids], [first, second, third], 'every event once, in order');
    assert.equal(client.events.find((e) => e.event === 'reauth')?.id, undefined, 'reauth carries no id');
  });

  it('signs a browser in with an HttpOnly cookie; by cookie, a state-changing request needs the same origin', async () => {
    const jwt = await token({ builds: ['TASK-*'], run: true, admin: true });
    const signIn = await fetch(`${base}/auth/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}` },
    });
    assert.equal(signIn.status, 200);
    const setCookie = signIn.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^gk_session=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(';')[0];
    const withCookie = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { cookie, ...(init.headers as Record<string, string>) } });
    assert.notEqual((await withCookie('/builds/TASK-1')).status, 401, 'a read by cookie');
    assert.equal((await withCookie('/builds/OTHER-1')).status, 403, 'the cookie carries the same grants');
    const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' };
    assert.equal((await withCookie('/pipelines', post)).status, 403, 'no origin: refused (CSRF)');
    const crossSite = { ...post, headers: { ...post.headers, 'sec-fetch-site': 'cross-site' } };
    assert.equal((await withCookie('/pipelines', crossSite)).status, 403, 'from another site: refused');
    const sameSite = { ...post, headers: { ...post.headers, 'sec-fetch-site': 'same-origin' } };
    assert.equal(
      (await withCookie('/pipelines', sameSite)).status,
      400,
      'from the dashboard: reaches the handler',
    );
    const origin = { ...post, headers: { ...post.headers, origin: base } };
    assert.equal((await withCookie('/pipelines', origin)).status, 400, 'Origin of the gateway itself');
    assert.equal((await withCookie('/admin/queues/api/queues')).status, 200, 'the board in a browser');
    const signedOut = await fetch(`${base}/auth/session`, { method: 'DELETE' });
    assert.match(signedOut.headers.get('set-cookie') ?? '', /^gk_session=; Max-Age=0;/);
  });

  it('refuses a token in the query string unless GATEWAY_ALLOW_QUERY_TOKEN=true', async () => {
    const jwt = await token({ builds: ['TASK-*'] });
    assert.equal(await status('GET', `/builds/TASK-1?access_token=${jwt}`), 401);
  });

  it('records every run and admin request with its token`s sub in the audit log; GET /audit is for admins', async () => {
    const operator = await new SignJWT({ gk: { run: true, admin: true } })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('operator-7')
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(key);
    const auth = { authorization: `Bearer ${operator}` };
    await fetch(`${base}/pipelines/p-404/pause`, { method: 'POST', headers: auth });
    await fetch(`${base}/agents/tester`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ concurrency: 0 }),
    });
    await fetch(`${base}/pipelines`, { headers: auth }); // a read: not recorded
    type Entry = { actor: string | null; action: string; subject_id: string; details: { status: number } };
    const entries = await eventually(async () => {
      const res = await fetch(`${base}/audit?limit=10`, { headers: auth });
      const { items } = (await res.json()) as { items: Entry[] };
      return items.filter((e) => e.actor === 'operator-7').length >= 2 ? items : undefined;
    });
    const mine = entries.filter((e) => e.actor === 'operator-7');
    assert.deepEqual(
      mine.map((e) => [e.action, e.subject_id]),
      [
        ['PUT /agents/:role', '/agents/tester'],
        ['POST /pipelines/:id/:command', '/pipelines/p-404/pause'],
      ],
      'newest first, reads left out',
    );
    assert.ok(
      mine.every((e) => typeof e.details.status === 'number'),
      'with the answer`s status',
    );
    assert.equal(await status('GET', '/audit', await token({ run: true })), 403);
  });

  it('narrows the outbox to the token`s sources; a trigger to its agent', async () => {
    assert.equal(await status('GET', '/outbox/events', await token({ outbox: ['local', 'api'] })), 200);
    assert.equal(await status('GET', '/outbox/events', await token({ outbox: ['lo*'] })), 403, 'name it');
    assert.equal(await status('GET', '/outbox/events?source=local', await token({ outbox: ['lo*'] })), 200);
    const post = await fetch(`${base}/api/outbox`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await token({ outbox: ['api'] })}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ content: 'from the api source' }),
    });
    assert.equal(post.status, 200);
    const listed = async (gk: object) =>
      (
        (await (
          await fetch(`${base}/api/outbox`, { headers: { authorization: `Bearer ${await token(gk)}` } })
        ).json()) as { messages: { content: string }[] }
      ).messages.map((m) => m.content);
    await eventually(async () =>
      (await listed({ outbox: ['*'] })).includes('from the api source') ? true : undefined,
    );
    assert.deepEqual(await listed({ outbox: ['local'] }), [], 'another source: none of it');
    assert.equal(
      await status('GET', '/triggers/TRIGGER', await token({ run: true })),
      403,
      'no trigger grant',
    );
    assert.equal(await status('GET', '/triggers/tr-unknown', await token({ trigger: ['agent-*'] })), 404);
    const triggers = async (gk: object) =>
      (
        (await (
          await fetch(`${base}/triggers`, { headers: { authorization: `Bearer ${await token(gk)}` } })
        ).json()) as { trigger_id: string }[]
      ).map((t) => t.trigger_id);
    assert.ok((await triggers({ trigger: ['agent-*'] })).includes(triggerId));
    assert.deepEqual(await triggers({ trigger: ['robot-*'] }), [], "another agent's: none listed");
  });

  it('opens the board to an admin token only, from anywhere', async () => {
    assert.equal(await status('GET', '/admin/queues/api/queues'), 401);
    assert.equal(await status('GET', '/admin/queues/api/queues', await token({ run: true })), 403);
    assert.equal(await status('GET', '/admin/queues/api/queues', await token({ admin: true })), 200);
  });

  it('counts refusals by reason on /metrics', async () => {
    const text = await (
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${await token({ admin: true })}` } })
    ).text();
    for (const reason of ['missing', 'signature', 'expired', 'claims', 'forbidden']) {
      assert.match(text, new RegExp(`guardkit_access_refused_total\\{reason="${reason}"\\} [1-9]`), reason);
    }
  });
});

describe('access: binding an address other machines reach', () => {
  const start = async (vars: Record<string, string>) => {
    const env = await TestEnv.create({ GATEWAY_HOST: '0.0.0.0', ...vars });
    const port = await freePort();
    const gateway = ServiceProcess.start('gateway', { ...env.processEnv(), GATEWAY_PORT: String(port) });
    return { env, gateway, port };
  };

  it('is refused without a key, naming the settings; allowed with a key or GATEWAY_OPEN=true', async () => {
    const refused = await start({});
    try {
      const { code } = await refused.gateway.exited;
      assert.equal(code, 2, refused.gateway.output.slice(-2000));
      assert.match(
        refused.gateway.output,
        /GATEWAY_HOST=0\.0\.0\.0 is reachable from other machines and no key is set/,
      );
      assert.match(refused.gateway.output, /GATEWAY_OPEN=true/);
    } finally {
      await refused.env.cleanup();
    }
    const allowed: Record<string, string>[] = [{ GATEWAY_OPEN: 'true' }, { GATEWAY_JWT_SECRET: SECRET }];
    for (const vars of allowed) {
      const { env, gateway, port } = await start(vars);
      try {
        await eventually(
          async () => {
            assert.ok(gateway.running, gateway.output.slice(-2000));
            return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok
              ? true
              : undefined;
          },
          30_000,
          `the gateway with ${Object.keys(vars).join()}`,
        );
      } finally {
        await gateway.stop();
        await env.cleanup();
      }
    }
  });
});

describe('access: GATEWAY_ALLOW_QUERY_TOKEN=true', () => {
  it('takes ?access_token=, and never writes it to the log', async () => {
    const env = await TestEnv.create({
      GATEWAY_JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      GATEWAY_ALLOW_QUERY_TOKEN: 'true',
    });
    const port = await freePort();
    const gateway = ServiceProcess.start('gateway', { ...env.processEnv(), GATEWAY_PORT: String(port) });
    try {
      const jwt = await new SignJWT({ gk: { builds: ['TASK-*'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(SECRET));
      const answer = await eventually(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/builds/TASK-1?access_token=${jwt}`).catch(() => undefined))
            ?.status,
        30_000,
        'the gateway',
      );
      assert.ok(answer !== 401 && answer !== 403, String(answer));
      await gateway.waitForOutput(/GET \/builds\/TASK-1\?access_token=\[redacted\]/);
      assert.ok(!gateway.output.includes(jwt), 'the token is not in the log');
    } finally {
      await gateway.stop();
      await env.cleanup();
    }
  });
});
