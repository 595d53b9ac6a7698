import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { ProgressFileWriter } from '#producers';
import { eventually, LogCapture, progressUpdate, TestEnv } from '#test-support';
import { createIngestor } from '../../apps/ingestor/src/ingestor.module.js';

/**
 * The ingestor builds its per-event debug line only when debug lines are written (it costs CPU on every event
 * otherwise): at LOG_LEVEL=debug the line must still be there. A file of its own, since nestjs-pino keeps the
 * first application's logger for the whole process.
 */
describe('progress ingestor at LOG_LEVEL=debug', () => {
  it('writes one line per publication, with the build and its stream sequence', async () => {
    const env = await TestEnv.create({ INGEST_SCAN_INTERVAL_MS: '60000', LOG_LEVEL: 'debug' });
    const logs = new LogCapture(20);
    let app: INestApplicationContext | undefined;
    try {
      assert.equal(env.settings.log.debug, true);
      app = await createIngestor(logs.into(env.settings));
      const writer = new ProgressFileWriter(env.root, 'TOLD');
      for (const turn of [1, 2]) {
        await writer.write(progressUpdate(turn));
        await eventually(
          async () =>
            (await env.storedOn(env.subjects.buildStatus('TOLD'))).length === turn ? true : undefined,
          5000,
          `turn ${turn} on the stream`,
        );
      }
      const lines = await eventually(() => {
        const found = logs.matching(/^published build status$/);
        return found.length === 2 ? found : undefined;
      }, 2000);
      assert.deepEqual(
        lines.map((line) => [line.level, line['build_id'], line['seq'], line['status']]),
        [
          [20, 'TOLD', 1, 'running'],
          [20, 'TOLD', 2, 'running'],
        ],
      );
    } finally {
      await env.cleanup(app);
    }
  });
});
