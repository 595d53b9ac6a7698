import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BuildStatusPayload, Envelope, IngestRejectedPayload } from '#contracts';
import { ProgressFileWriter, type ProgressUpdate } from '#producers';

/** A realistic GuardKit update for a task at a given turn. */
export function progressUpdate(turn: number, overrides: Partial<ProgressUpdate> = {}): ProgressUpdate {
  return {
    build_type: 'task',
    status: 'running',
    wave: 1,
    wave_total: 2,
    task_name: 'Implement text output fallback',
    turn,
    turn_max: 50,
    phase: turn % 2 === 0 ? 'Coach Validation' : 'Player Implementation',
    phase_status: 'in_progress',
    metrics: {
      elapsed_seconds: turn * 30,
      files_created: turn,
      files_modified: Math.floor(turn / 2),
      tests_passed: turn,
      tests_total: turn + 2,
    },
    ...overrides,
  };
}

/** An SSE event's or stored message's data, read as the envelope of a build status. */
export function envelopeOf(data: string): Envelope<BuildStatusPayload> {
  return JSON.parse(data) as Envelope<BuildStatusPayload>;
}

export function payloadOf(data: string): BuildStatusPayload {
  return envelopeOf(data).payload;
}

/** A stored `guardkit.ingest.rejected` message's payload. */
export function rejectionOf(data: string): IngestRejectedPayload {
  return (JSON.parse(data) as Envelope<IngestRejectedPayload>).payload;
}

/**
 * A GuardKit build played step by step into `root`, as GuardKit writes it: queued, then `steps` turns whose
 * progress grows, then `final`. Resolves when the last update is written.
 */
export async function playBuild(
  root: string,
  buildId: string,
  {
    steps = 6,
    stepMs = 300,
    final = 'completed',
  }: { steps?: number; stepMs?: number; final?: 'completed' | 'failed' | 'cancelled' } = {},
): Promise<void> {
  const writer = new ProgressFileWriter(root, buildId);
  const shape = { wave_total: 1, turn_max: steps };
  await writer.write(
    progressUpdate(0, { ...shape, status: 'queued', phase: 'Queued', phase_status: 'pending' }),
  );
  for (let turn = 1; turn <= steps; turn++) {
    await new Promise((r) => setTimeout(r, stepMs));
    await writer.write(progressUpdate(turn, shape));
  }
  await new Promise((r) => setTimeout(r, stepMs));
  await writer.write(
    progressUpdate(steps, {
      ...shape,
      status: final,
      phase: final === 'completed' ? 'Complete' : 'Stopped',
      phase_status: final === 'completed' ? 'completed' : final,
    }),
  );
}

/**
 * `npm run demo` itself (dist/scripts/demo.js) as a process, playing a GuardKit build under `buildId` into the
 * test's progress root, `stepMs` between updates (21 updates). Resolves when it has written its last one.
 */
export function playDemo(env: NodeJS.ProcessEnv, buildId: string, stepMs = 100): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [fileURLToPath(new URL('../../scripts/demo.js', import.meta.url)), buildId],
      { env: { ...env, DEMO_STEP_MS: String(stepMs) } },
      (error, _stdout, stderr) => (error ? reject(new Error(`the demo failed: ${stderr}`)) : resolve()),
    );
  });
}
