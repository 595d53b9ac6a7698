import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { ProgressFileWriter } from '#producers';
import { eventually, payloadOf, progressUpdate, TestEnv } from '#test-support';
import { createIngestor } from '../../apps/ingestor/src/ingestor.module.js';
import { ProgressIngestor } from '../../apps/ingestor/src/progress/progress-ingestor.js';
import { ProgressWatcher } from '../../apps/ingestor/src/progress/progress-watcher.js';

/**
 * The watcher alone (ingestor and NATS), with the backstop scan a minute away so that only inotify can
 * explain an update arriving: every update must be on the stream within seconds.
 */
describe('progress watcher: event-driven, nothing missed while folders come and go', () => {
  let env: TestEnv;
  let ingestor: INestApplicationContext;

  before(async () => {
    env = await TestEnv.create({ INGEST_SCAN_INTERVAL_MS: '60000' });
    ingestor = await createIngestor(env.settings);
  });
  after(() => env?.cleanup(ingestor));

  const turnsOn = async (buildId: string) =>
    (await env.storedOn(env.subjects.buildStatus(buildId))).map((m) => payloadOf(m.data).turn);

  it('picks up a root whose .guardkit folder appears after start', async () => {
    await new ProgressFileWriter(env.root, 'LATE-ROOT').write(progressUpdate(1));
    assert.deepEqual(
      await eventually(
        async () => ((await turnsOn('LATE-ROOT')).length ? turnsOn('LATE-ROOT') : undefined),
        5000,
      ),
      [1],
    );
  });

  it('misses no update of task folders created while the tree is being scanned', async () => {
    const writers = Array.from({ length: 40 }, (_, i) => new ProgressFileWriter(env.root, `BURST-${i}`));
    // Scans run (as the backstop timer or a new .guardkit folder would start them) while folders appear:
    // every folder made meanwhile must stay watched.
    const watcher = ingestor.get(ProgressWatcher);
    let scanning = true;
    const scans = (async () => {
      while (scanning) await watcher.scanSoon();
    })();
    for (const w of writers) await w.write(progressUpdate(1));
    scanning = false;
    await scans;
    await new Promise((r) => setTimeout(r, 300));
    for (const w of writers) await w.write(progressUpdate(2));
    await new Promise((r) => setTimeout(r, 300));
    for (const w of writers) await w.write(progressUpdate(3));
    for (const w of writers) {
      const turns = await eventually(
        async () => {
          const seen = await turnsOn(w.taskId);
          return seen.includes(3) ? seen : undefined;
        },
        5000,
        `turn 3 of ${w.taskId}`,
      );
      // updates that follow each other closely may be read as one (a snapshot is a full status): what
      // counts is that the last arrives, through the watch, and that nothing arrives twice or out of order
      assert.deepEqual(turns, [...new Set(turns)].sort(), w.taskId);
      assert.equal(turns.at(-1), 3, w.taskId);
    }
  });

  it('watches a task folder again after it is deleted and made anew', async () => {
    const writer = new ProgressFileWriter(env.root, 'REBORN');
    await writer.write(progressUpdate(1));
    await eventually(async () => ((await turnsOn('REBORN')).length === 1 ? true : undefined), 5000);
    await rm(join(env.root, '.guardkit', 'autobuild', 'REBORN'), { recursive: true });
    await new Promise((r) => setTimeout(r, 100));
    await mkdir(join(env.root, '.guardkit', 'autobuild', 'REBORN'));
    await writer.write(progressUpdate(2));
    assert.deepEqual(
      await eventually(
        async () => ((await turnsOn('REBORN')).length === 2 ? turnsOn('REBORN') : undefined),
        5000,
      ),
      [1, 2],
    );
  });

  it('forgets the files that go, so what it keeps is bounded by what is on disk', async () => {
    const ingestorState = ingestor.get(ProgressIngestor);
    const writers = Array.from({ length: 20 }, (_, i) => new ProgressFileWriter(env.root, `GONE-${i}`));
    for (const w of writers) await w.write(progressUpdate(1));
    for (const w of writers) {
      await eventually(async () => ((await turnsOn(w.taskId)).length === 1 ? true : undefined), 5000);
    }
    assert.ok(ingestorState.tracked() >= 20, `tracks ${ingestorState.tracked()} files`);
    await rm(join(env.root, '.guardkit'), { recursive: true }); // whole folders go, with no event per file
    await ingestor.get(ProgressWatcher).scanSoon();
    await eventually(() => (ingestorState.tracked() === 0 ? true : undefined), 5000, 'nothing tracked');
  });
});
