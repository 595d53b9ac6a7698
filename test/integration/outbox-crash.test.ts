import assert from 'node:assert/strict';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import type { Envelope, OutboxMessagePayload } from '#contracts';
import { eventually, ServiceProcess, TestEnv } from '#test-support';
import { createOrchestrator } from '../../apps/orchestrator/src/orchestrator.module.js';

const FIRST = 3000;
const DURING = 1000;

describe('outbox: kill -9 of the ingestor mid-burst loses nothing and stores nothing twice', () => {
  let env: TestEnv;
  let orchestrator: INestApplicationContext;
  let ingestor: ServiceProcess | undefined;
  let outbox: string;

  before(async () => {
    // A 1 s duplicate window, and a pause longer than it before each restart: NATS cannot hide a second
    // publish, so only the ingestor's own crash check keeps each message once.
    env = await TestEnv.create({
      INGEST_SCAN_INTERVAL_MS: '1000',
      STREAM_STORAGE: 'file',
      STREAM_DUPLICATE_WINDOW_SECONDS: '1',
    });
    outbox = join(env.root, 'runtime', 'outbox');
    await mkdir(outbox, { recursive: true });
    orchestrator = await createOrchestrator(env.settings);
  });
  after(async () => {
    await ingestor?.kill();
    await env?.cleanup(orchestrator);
  });

  /** As runners write them: temp file, then rename; millisecond names in order. */
  async function burst(from: number, count: number): Promise<void> {
    for (let i = from; i < from + count; i++) {
      const name = `${1_800_000_000_000 + i}_pipeline.md`;
      await writeFile(join(outbox, `.tmp.${i}`), `message ${i}`);
      await rename(join(outbox, `.tmp.${i}`), join(outbox, name));
    }
  }
  const processed = async () => (await readdir(join(outbox, 'processed')).catch(() => [])).length;
  const startIngestor = () => ServiceProcess.start('ingestor', env.processEnv());
  const pastDuplicateWindow = () => new Promise((r) => setTimeout(r, 1200));

  it(`ingests ${FIRST + DURING} files through two kill -9, each message once and in order`, async () => {
    await burst(0, FIRST);
    ingestor = startIngestor();
    await eventually(async () => ((await processed()) >= 700 ? true : undefined), 30_000, '700 processed');
    await ingestor.kill();
    await pastDuplicateWindow();

    ingestor = startIngestor();
    const writing = burst(FIRST, DURING); // more files arrive while it runs and dies again
    await eventually(async () => ((await processed()) >= 2000 ? true : undefined), 30_000, '2000 processed');
    await ingestor.kill();
    await writing;
    await pastDuplicateWindow();

    ingestor = startIngestor();
    await eventually(
      async () => ((await readdir(outbox)).filter((n) => n.endsWith('.md')).length === 0 ? true : undefined),
      60_000,
      'the outbox drained',
    );
    assert.equal(await processed(), FIRST + DURING);

    const stored = await env.storedOn(
      env.subjects.outbox('local', 'pipeline'),
      env.subjects.streamName('outbox'),
    );
    const contents = stored.map(
      (m) => (JSON.parse(m.data) as Envelope<OutboxMessagePayload>).payload.content,
    );
    assert.equal(contents.length, FIRST + DURING, 'on the stream: each message once');
    assert.deepEqual(
      contents,
      Array.from({ length: FIRST + DURING }, (_, i) => `message ${i}`),
      'in file order',
    );

    const rows = await eventually(async () => {
      const [row] = await env.query<{ count: string; distinct: string }>(
        'SELECT count(*) AS count, count(DISTINCT content) AS distinct FROM outbox_messages',
      );
      return Number(row?.count) === FIRST + DURING ? row : undefined;
    }, 30_000);
    assert.equal(Number(rows.distinct), FIRST + DURING, 'in the table: each message once');
  });
});
