import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { corpusCases } from '../../libs/aaps/src/corpus.js';
import { TestEnv } from '#test-support';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';

describe('POST /api/scripts/parse: AutoAppDev`s shapes over real HTTP', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let baseUrl: string;

  before(async () => {
    env = await TestEnv.create();
    gateway = await createGateway(env.settings);
    const address = gateway.getHttpServer().address();
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => env?.cleanup(gateway));

  const parse = async (body: string) => {
    const res = await fetch(`${baseUrl}/api/scripts/parse`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers every example and case of AutoAppDev`s corpus as its parser does', async () => {
    for (const item of corpusCases()) {
      const got = await parse(JSON.stringify({ script_text: item.text }));
      if (item.expected.ok) {
        assert.equal(got.status, 200, item.name);
        assert.equal(got.body.ok, true);
        assert.deepStrictEqual(got.body.ir, item.expected.ir, item.name);
        assert.deepEqual(got.body.warnings, []);
      } else {
        assert.equal(got.status, 400, item.name);
        assert.deepEqual(
          [got.body.ok, got.body.error, got.body.line],
          [false, item.expected.code, item.expected.line],
          item.name,
        );
        assert.equal(typeof got.body.detail, 'string');
      }
    }
  });

  it('lists dropped keys as warnings', async () => {
    const got = await parse(
      JSON.stringify({ script_text: 'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T","colour":"red"}\n' }),
    );
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.warnings, [
      {
        code: 'dropped_key',
        line: 2,
        where: 'TASK t',
        key: 'colour',
        detail: 'TASK t: unknown key "colour" dropped',
      },
    ]);
  });

  it('refuses a bad request with AutoAppDev`s codes: not JSON, not an object, no text, too large', async () => {
    assert.deepEqual((await parse('{nope')).body.error, 'invalid_json');
    assert.deepEqual(await parse('[1]').then((r) => [r.status, r.body.ok, r.body.error]), [
      400,
      false,
      'invalid_body',
    ]);
    assert.deepEqual(await parse('{"script_text":5}').then((r) => [r.status, r.body.error]), [
      400,
      'invalid_script_text',
    ]);
    // 200,000 characters is the limit, counted as Python counts (code points): 100,001 emoji are 200,002
    // UTF-16 units but only 100,001 characters, so they are not too large.
    const header = 'AUTOAPPDEV_PIPELINE 1\n';
    const atLimit = header + '#'.repeat(200_000 - header.length);
    assert.deepEqual(
      await parse(JSON.stringify({ script_text: atLimit })).then((r) => r.body.error),
      'missing_task',
    );
    const over = await parse(JSON.stringify({ script_text: atLimit + '#' }));
    assert.deepEqual([over.status, over.body.ok, over.body.error], [400, false, 'script_too_large']);
    const wide = header + '#' + '\u{1F600}'.repeat(100_001);
    assert.deepEqual(
      await parse(JSON.stringify({ script_text: wide })).then((r) => r.body.error),
      'missing_task',
    );
  });
});
