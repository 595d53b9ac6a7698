import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { headers } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import {
  createEnvelope,
  type Envelope,
  type IngestRejectedPayload,
  type OutboxMessagePayload,
} from '#contracts';
import { eventually, LogCapture, TestEnv } from '#test-support';
import { createIngestor } from '../../apps/ingestor/src/ingestor.module.js';
import { OUTBOX_FILE_HEADER } from '../../apps/ingestor/src/outbox/outbox-ingestor.js';

const messageOf = (data: string) => (JSON.parse(data) as Envelope<OutboxMessagePayload>).payload;
/** One for the file: nestjs-pino keeps the first application's logger for the whole process. */
const logs = new LogCapture();

describe('AutoAppDev outbox bridge (ingestor and NATS)', () => {
  let env: TestEnv;
  let ingestor: INestApplicationContext | undefined;
  let outbox: string;
  let other: string;

  before(async () => {
    env = await TestEnv.create({ INGEST_SCAN_INTERVAL_MS: '500' });
    env.vars['GUARDKIT_OUTBOX_SOURCES'] = `web=${join(env.root, 'web-runtime')}`;
    outbox = join(env.root, 'runtime', 'outbox');
    other = join(env.root, 'web-runtime', 'outbox');
    await mkdir(outbox, { recursive: true });
    ingestor = await createIngestor(logs.into(env.settings));
  });
  after(() => env?.cleanup(ingestor));

  const stored = async (source = 'local') => {
    const all = [
      ...(await env.storedOn(env.subjects.outbox(source, 'pipeline'), env.subjects.streamName('outbox'))),
      ...(await env.storedOn(env.subjects.outbox(source, 'system'), env.subjects.streamName('outbox'))),
    ];
    return all.sort((a, b) => a.seq - b.seq).map((m) => messageOf(m.data));
  };
  const rejections = async () =>
    (await env.storedOn(env.subjects.ingestRejected(), env.subjects.streamName('ingest'))).map(
      (m) => (JSON.parse(m.data) as Envelope<IngestRejectedPayload>).payload,
    );
  /** As a runner writes: a temp file, then a rename into place. */
  async function drop(dir: string, name: string, content: string | Buffer): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `.tmp.${name}`), content);
    const { rename } = await import('node:fs/promises');
    await rename(join(dir, `.tmp.${name}`), join(dir, name));
  }
  const until = <T>(check: () => Promise<T | undefined>) => eventually(check, 10_000);

  it('publishes files in time order (s, ms and ns mixed), with roles as AutoAppDev reads them, then moves them', async () => {
    // Written all at once while the ingestor is stopped, so one drain sees them together.
    await ingestor!.close();
    await drop(outbox, '1739655401_pipeline.md', 'third (seconds)');
    await drop(outbox, '1739655400500_SYSTEM.md', 'first (milliseconds)');
    await drop(outbox, '1739655400900000001_reviewer.txt', 'second (nanoseconds)\n');
    ingestor = await createIngestor(logs.into(env.settings));
    const messages = await until(async () => ((await stored()).length === 3 ? stored() : undefined));
    assert.deepEqual(
      messages.map((m) => [m.content, m.role]),
      [
        ['first (milliseconds)', 'system'],
        ['second (nanoseconds)', 'pipeline'],
        ['third (seconds)', 'pipeline'],
      ],
    );
    assert.equal(messages[0]?.file_ts, '2025-02-15T21:36:40.500Z');
    await until(async () => ((await readdir(join(outbox, 'processed'))).length === 3 ? true : undefined));
    assert.deepEqual((await readdir(outbox)).sort(), ['processed']);
  });

  it('creates each outbox folder at start, so the first file is read at once', async () => {
    const fresh = await TestEnv.create({ INGEST_SCAN_INTERVAL_MS: '60000' });
    const app = await createIngestor(fresh.settings);
    try {
      await drop(join(fresh.root, 'runtime', 'outbox'), '1800000000000_pipeline.md', 'first');
      await eventually(
        async () =>
          (
            await fresh.storedOn(
              fresh.subjects.outbox('local', 'pipeline'),
              fresh.subjects.streamName('outbox'),
            )
          ).length === 1
            ? true
            : undefined,
        3000,
        'the first file, with no scan to find it',
      );
    } finally {
      await fresh.cleanup(app);
    }
  });

  it('reads a file the moment it is renamed into place, and other sources as their own', async () => {
    await drop(outbox, '1800000000000_pipeline.md', 'live');
    await drop(other, '1800000000001_system.md', 'from the web runtime');
    await until(async () => ((await stored()).some((m) => m.content === 'live') ? true : undefined));
    const web = await until(async () => ((await stored('web')).length ? stored('web') : undefined));
    assert.deepEqual(
      [web[0]?.source, web[0]?.role, web[0]?.content],
      ['web', 'system', 'from the web runtime'],
    );
  });

  it('replaces invalid UTF-8, cuts long content with a flag, and publishes nothing for an empty file', async () => {
    const before = (await stored()).length;
    await drop(outbox, '1800000000100_pipeline.md', Buffer.from([0x6f, 0x6b, 0xff, 0x21]));
    await drop(outbox, '1800000000101_pipeline.md', 'x'.repeat(10_050));
    await drop(outbox, '1800000000102_pipeline.md', '  \n ');
    const messages = await until(async () => ((await stored()).length === before + 2 ? stored() : undefined));
    assert.equal(messages.at(-2)?.content, 'ok\uFFFD!');
    assert.equal(messages.at(-1)?.content.length, 10_000);
    assert.equal(messages.at(-1)?.truncated, true);
    await until(async () =>
      (await readdir(join(outbox, 'processed'))).includes('1800000000102_pipeline.md') ? true : undefined,
    );
  });

  it('refuses a 2 MiB file, a folder and a symlink named like messages: rejected/ with a reason, and an event', async () => {
    await drop(outbox, '1800000000200_pipeline.md', Buffer.alloc(2 * 1024 * 1024, 0x61));
    await mkdir(join(outbox, '1800000000201_pipeline.md'));
    await writeFile(join(env.root, 'target.md'), 'not mine');
    await symlink(join(env.root, 'target.md'), join(outbox, '1800000000202_pipeline.md'));
    const rejected = join(outbox, 'rejected');
    await until(async () => ((await readdir(rejected).catch(() => [])).length === 6 ? true : undefined));
    const reason = JSON.parse(
      await readFile(join(rejected, '1800000000200_pipeline.md.reason.json'), 'utf8'),
    ) as { reason: string };
    assert.equal(reason.reason, 'file too large');
    const events = await until(async () => ((await rejections()).length === 3 ? rejections() : undefined));
    assert.deepEqual(events.map((e) => e.reason).sort(), [
      'file too large',
      'not a regular file',
      'not a regular file',
    ]);
    assert.equal(
      await readFile(join(env.root, 'target.md'), 'utf8'),
      'not mine',
      'a link target is never touched',
    );
  });

  it('leaves names that do not match alone', async () => {
    await drop(outbox, 'notes.md', 'mine');
    await drop(outbox, '1800000000300_pipeline.json', '{}');
    // a message written after them is taken: the drain that saw them has run
    await drop(outbox, '1800000000301_pipeline.md', 'after them');
    await until(async () =>
      (await readdir(join(outbox, 'processed'))).includes('1800000000301_pipeline.md') ? true : undefined,
    );
    const left = await readdir(outbox);
    assert.ok(left.includes('notes.md') && left.includes('1800000000300_pipeline.json'));
  });

  it('keeps going when files vanish while it works', async () => {
    const before = (await stored()).length;
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const name = `18000000007${String(i).padStart(2, '0')}_pipeline.md`;
        await drop(outbox, name, `short-lived ${i}`);
        await rm(join(outbox, name), { force: true }); // gone again at once, before or after the ingestor saw it
      }),
    );
    await drop(outbox, '1800000000799_pipeline.md', 'after the storm');
    const messages = await until(async () => {
      const all = await stored();
      return all.some((m) => m.content === 'after the storm') ? all : undefined;
    });
    const shortLived = messages.slice(before).filter((m) => m.content.startsWith('short-lived'));
    assert.equal(
      new Set(shortLived.map((m) => m.content)).size,
      shortLived.length,
      'those it caught, it published once',
    );
  });

  it('watches an outbox folder again after it is deleted and made anew', async () => {
    const fresh = await TestEnv.create({ INGEST_SCAN_INTERVAL_MS: '60000' });
    const app = await createIngestor(fresh.settings);
    const box = join(fresh.root, 'runtime', 'outbox');
    const count = async () =>
      (await fresh.storedOn(fresh.subjects.outbox('local', 'pipeline'), fresh.subjects.streamName('outbox')))
        .length;
    try {
      await drop(box, '1800000000000_pipeline.md', 'before');
      await eventually(async () => ((await count()) === 1 ? true : undefined), 3000);
      await rm(box, { recursive: true });
      await new Promise((r) => setTimeout(r, 100));
      await drop(box, '1800000000001_pipeline.md', 'after'); // drop() makes the folder anew
      await eventually(
        async () => ((await count()) === 2 ? true : undefined),
        3000,
        'a file in the new folder, with no scan',
      );
    } finally {
      await fresh.cleanup(app);
    }
  });

  it('gives a processed/ name clash a suffix', async () => {
    await writeFile(join(outbox, 'processed', '1800000000400_pipeline.md'), 'an older file of the same name');
    await drop(outbox, '1800000000400_pipeline.md', 'clash');
    await until(async () =>
      (await readdir(join(outbox, 'processed'))).includes('1800000000400_pipeline-1.md') ? true : undefined,
    );
    assert.equal(
      await readFile(join(outbox, 'processed', '1800000000400_pipeline.md'), 'utf8'),
      'an older file of the same name',
    );
  });

  it('publishes nothing while processed/ cannot take files, and drains once it can', async () => {
    await rm(join(other, 'processed'), { recursive: true, force: true });
    await writeFile(join(other, 'processed'), 'a file where the folder should be');
    const before = (await stored('web')).length;
    await drop(other, '1800000000500_pipeline.md', 'waits');
    // the drain that saw the file says why it leaves it, as an error, once
    const [blocked] = await until(() => {
      const found = logs.matching(/cannot move ingested outbox files into processed/);
      return Promise.resolve(found.length > 0 ? found : undefined);
    });
    assert.equal(blocked?.['source'], 'web');
    assert.equal((await stored('web')).length, before, 'not published: it could not be moved afterwards');
    assert.ok((await readdir(other)).includes('1800000000500_pipeline.md'), 'and the file is still there');
    await rm(join(other, 'processed'));
    await until(async () => ((await stored('web')).length === before + 1 ? true : undefined));
  });

  it('after a crash between publish and move, moves the file without publishing it again', async () => {
    // What a kill -9 right after the acknowledgement leaves: the message on the stream, the file in place.
    await ingestor!.close();
    ingestor = undefined;
    const name = '1800000000600_pipeline.md';
    await drop(outbox, name, 'published once');
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update('published once').digest('hex');
    const { nc } = await env.nats();
    const h = headers();
    h.set(OUTBOX_FILE_HEADER, `${name}:${hash}`);
    const payload: OutboxMessagePayload = {
      source: 'local',
      role: 'pipeline',
      content: 'published once',
      truncated: false,
    };
    await jetstream(nc).publish(
      env.subjects.outbox('local', 'pipeline'),
      JSON.stringify(createEnvelope({ source_id: 'test', event_type: 'outbox_message', payload })),
      { headers: h },
    );
    const before = (await stored()).length;
    ingestor = await createIngestor(logs.into(env.settings));
    await until(async () => ((await readdir(join(outbox, 'processed'))).includes(name) ? true : undefined));
    assert.equal((await stored()).length, before, 'not published a second time');
  });
  it('after a crash that left a gap (a file of a window not stored, later ones stored), publishes only the gap', async () => {
    await ingestor!.close();
    ingestor = undefined;
    const { createHash } = await import('node:crypto');
    const { nc } = await env.nats();
    const names = ['1800000000701_pipeline.md', '1800000000702_pipeline.md', '1800000000703_pipeline.md'];
    for (const name of names) await drop(outbox, name, `gap ${name}`);
    // what a failed publish in the middle of a window and then a kill -9 leave: the first and the third on the
    // stream, the second not, all three still in the folder
    for (const name of [names[0], names[2]]) {
      const h = headers();
      h.set(OUTBOX_FILE_HEADER, `${name}:${createHash('sha256').update(`gap ${name}`).digest('hex')}`);
      const payload: OutboxMessagePayload = {
        source: 'local',
        role: 'pipeline',
        content: `gap ${name}`,
        truncated: false,
      };
      await jetstream(nc).publish(
        env.subjects.outbox('local', 'pipeline'),
        JSON.stringify(createEnvelope({ source_id: 'test', event_type: 'outbox_message', payload })),
        { headers: h },
      );
    }
    ingestor = await createIngestor(logs.into(env.settings));
    await until(async () => {
      const moved = await readdir(join(outbox, 'processed'));
      return names.every((n) => moved.includes(n)) ? true : undefined;
    });
    const contents = (await stored()).map((m) => m.content).filter((c) => c.startsWith('gap '));
    assert.deepEqual(
      contents,
      [`gap ${names[0]}`, `gap ${names[2]}`, `gap ${names[1]}`],
      'the gap once, nothing twice',
    );
  });
});

describe('outbox bridge with OUTBOX_AFTER_INGEST=delete', () => {
  it('deletes each file once its message is stored, and makes no processed/ folder', async () => {
    const env = await TestEnv.create({ OUTBOX_AFTER_INGEST: 'delete' });
    const outbox = join(env.root, 'runtime', 'outbox');
    const ingestor = await createIngestor(logs.into(env.settings));
    try {
      await writeFile(join(outbox, '.tmp'), 'delete me');
      const { rename } = await import('node:fs/promises');
      await rename(join(outbox, '.tmp'), join(outbox, '1800000000000_pipeline.md'));
      await eventually(async () => ((await readdir(outbox)).length === 0 ? true : undefined), 5000);
      const stored = await env.storedOn(
        env.subjects.outbox('local', 'pipeline'),
        env.subjects.streamName('outbox'),
      );
      assert.deepEqual(
        stored.map((m) => messageOf(m.data).content),
        ['delete me'],
      );
    } finally {
      await env.cleanup(ingestor);
    }
  });
});
