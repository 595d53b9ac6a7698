import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { mkdir, open, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Logger } from 'nestjs-pino';
import type { PubAck } from '@nats-io/jetstream';
import { BusUnavailableError, type Envelope, type OutboxMessagePayload } from '#contracts';
import { EventPublisher, type PublishOptions } from '#bus';
import { eventually, LogCapture, TestEnv } from '#test-support';
import { IngestorModule } from '../../apps/ingestor/src/ingestor.module.js';

/**
 * Stores every publish for real, except: `loseNext` loses the next acknowledgement after the message was
 * stored, and then NATS stays unreachable for `downMs` (publishes fail unsent), as in a long outage.
 */
class AckLosingPublisher extends EventPublisher {
  static loseNext = false;
  static downMs = 0;
  static downUntil = 0;
  /** Files whose next publish is refused unsent, while the others of the window go through. */
  static refuse = new Set<string>();

  override async publish(
    subject: string,
    envelope: Envelope<object>,
    options: PublishOptions,
  ): Promise<PubAck> {
    const file = (envelope.payload as Partial<OutboxMessagePayload>).file_name;
    if (file && AckLosingPublisher.refuse.delete(file)) {
      throw new BusUnavailableError(`publish of ${file} not sent (stand-in: refused mid-window)`);
    }
    if (Date.now() < AckLosingPublisher.downUntil) {
      throw new BusUnavailableError(`publish to ${subject} not acknowledged (stand-in: NATS unreachable)`);
    }
    const ack = await super.publish(subject, envelope, options);
    if (AckLosingPublisher.loseNext) {
      AckLosingPublisher.loseNext = false;
      AckLosingPublisher.downUntil = Date.now() + AckLosingPublisher.downMs;
      throw new BusUnavailableError(`publish to ${subject} not acknowledged (stand-in: the ack was lost)`);
    }
    return ack;
  }
}

/**
 * Issue 10 (5): the outbox bridge across long NATS trouble and writers that do not rename. The ingestor runs
 * in this process with a publisher whose acknowledgements can be lost after the message was stored.
 */
describe('outbox bridge under faults', () => {
  let env: TestEnv;
  let app: INestApplication;
  let outbox: string;
  const logs = new LogCapture(40); // warnings too: a change of order is one

  before(async () => {
    // a 1 s duplicate window: a publish sent again after it is stored twice, unless the bridge looks first
    env = await TestEnv.create({ INGEST_SCAN_INTERVAL_MS: '300', STREAM_DUPLICATE_WINDOW_SECONDS: '1' });
    outbox = join(env.root, 'runtime', 'outbox');
    await mkdir(outbox, { recursive: true });
    const moduleRef = await Test.createTestingModule({
      imports: [IngestorModule.forRoot(logs.into(env.settings))],
    })
      .overrideProvider(EventPublisher)
      .useClass(AckLosingPublisher)
      .compile();
    app = moduleRef.createNestApplication({ bufferLogs: true });
    app.useLogger(app.get(Logger));
    await app.init();
  });
  after(() => env?.cleanup(app));

  const stored = async () =>
    (await env.storedOn(env.subjects.outbox('local', 'pipeline'), env.subjects.streamName('outbox'))).map(
      (m) => (JSON.parse(m.data) as Envelope<OutboxMessagePayload>).payload.content,
    );
  const processed = () => readdir(join(outbox, 'processed')).catch(() => [] as string[]);

  it('stores a file once when its acknowledgement was lost and the retry comes after the duplicate window', async () => {
    AckLosingPublisher.loseNext = true;
    AckLosingPublisher.downMs = 1500; // longer than the duplicate window
    await writeFile(join(outbox, '.tmp'), 'acknowledged late');
    await rename(join(outbox, '.tmp'), join(outbox, '1800000000001_pipeline.md'));
    await eventually(async () =>
      (await processed()).includes('1800000000001_pipeline.md') ? true : undefined,
    );
    assert.equal(AckLosingPublisher.loseNext, false, 'the acknowledgement was lost');
    // a later file goes through the same drain, so the first one's fate is settled by now
    await writeFile(join(outbox, '.tmp'), 'next');
    await rename(join(outbox, '.tmp'), join(outbox, '1800000000002_pipeline.md'));
    await eventually(async () =>
      (await processed()).includes('1800000000002_pipeline.md') ? true : undefined,
    );
    assert.deepEqual(await stored(), ['acknowledged late', 'next']);
  });

  it('a publish refused in the middle of a window: every file stored once, the refused one after the others', async () => {
    // ten files at once, so one drain publishes them in one window; the fourth is refused, the rest stored
    const names = Array.from(
      { length: 10 },
      (_, i) => `18000000001${String(i).padStart(2, '0')}_pipeline.md`,
    );
    AckLosingPublisher.refuse.add(names[3]);
    const staging = join(env.root, 'staging');
    await mkdir(staging, { recursive: true });
    for (const [i, name] of names.entries()) await writeFile(join(staging, name), `window ${i}`);
    const before = (await stored()).length;
    for (const name of names) renameSync(join(staging, name), join(outbox, name));
    await eventually(async () => {
      const moved = await processed();
      return names.every((n) => moved.includes(n)) ? true : undefined;
    }, 10_000);
    const after = (await stored()).slice(before);
    assert.deepEqual(
      [...after].sort(),
      names.map((_, i) => `window ${i}`),
      'each once',
    );
    // the next file of its window was stored before the refusal was known: the refused one comes after it
    assert.ok(after.indexOf('window 3') > after.indexOf('window 4'), after.join(', '));
    assert.deepEqual(
      after.filter((c) => c !== 'window 3'),
      names.map((_, i) => `window ${i}`).filter((c) => c !== 'window 3'),
      'the others in order',
    );
    assert.ok(
      logs.lines.some((l) => String(l.msg).includes('published again after them')),
      'the change of order is logged',
    );
  });

  it('reads a file written in place (`echo text > name`) once its content settles, not as empty', async () => {
    const startedAt = Date.now();
    const path = join(outbox, '1800000000003_pipeline.md');
    const handle = await open(path, 'w'); // the name exists, empty, as the shell's > makes it
    await new Promise((r) => setTimeout(r, 500)); // the watcher and a scan have seen it empty
    await handle.write('written after the name appeared');
    await handle.close();
    await eventually(
      async () => ((await processed()).includes('1800000000003_pipeline.md') ? true : undefined),
      10_000,
    );
    assert.deepEqual((await stored()).at(-1), 'written after the name appeared');
    assert.deepEqual(
      logs.lines.filter((l) => Number(l.time) > startedAt && l.level >= 50).map((l) => l.msg),
      [],
      'no error on the way',
    );
  });
});
