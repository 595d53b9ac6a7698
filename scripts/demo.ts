/**
 * `npm run demo`: plays a realistic GuardKit autobuild into the first GUARDKIT_PROGRESS_ROOTS folder (default:
 * this one), the way GuardKit writes it (seed 001): progress.json rewritten atomically at every phase change,
 * two waves, Player and Coach turns, metrics that grow, a final `completed`. About 40 seconds.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadSettings } from '#platform';
import { ProgressFileWriter, type ProgressUpdate } from '#producers';

const STEP_MS = Number(process.env['DEMO_STEP_MS'] ?? 1200);
const settings = loadSettings();
const root = settings.ingest.progressRoots[0] ?? process.cwd();
const taskId = process.argv[2] ?? `TASK-DEMO-${randomBytes(3).toString('hex').toUpperCase()}`;
const writer = new ProgressFileWriter(root, taskId);
const url = `http://${settings.gateway.host}:${settings.gateway.port}`;

process.stdout.write(
  `Playing GuardKit build ${taskId} into ${writer.path}\n\n` +
    `  watch it:  npx guardkit-stream watch ${taskId}${url === 'http://127.0.0.1:3000' ? '' : ` --url ${url}`}\n` +
    `  or:        curl -N ${url}/builds/${taskId}/events\n` +
    `  or open:   ${url}/\n\n`,
);

const metrics = { elapsed_seconds: 0, files_created: 0, files_modified: 0, tests_passed: 0, tests_total: 0 };
const base = {
  build_type: 'task',
  wave_total: 2,
  task_name: 'Add progress streaming to the autobuild orchestrator',
  turn_max: 5,
};

async function step(
  update: Partial<ProgressUpdate> &
    Pick<ProgressUpdate, 'status' | 'wave' | 'turn' | 'phase' | 'phase_status'>,
) {
  metrics.elapsed_seconds += 20 + Math.floor(Math.random() * 40);
  await writer.write({ ...base, ...update, metrics: { ...metrics } });
  process.stdout.write(
    `  wave ${update.wave}/2  turn ${update.turn}  ${update.phase.padEnd(22)} ${update.phase_status.padEnd(12)} tests ${metrics.tests_passed}/${metrics.tests_total}\n`,
  );
  await sleep(STEP_MS);
}

await step({ status: 'queued', wave: 1, turn: 0, phase: 'Queued', phase_status: 'pending' });
for (const wave of [1, 2]) {
  const turns = wave === 1 ? 3 : 2;
  for (let turn = 1; turn <= turns; turn++) {
    await step({
      status: 'running',
      wave,
      turn,
      phase: 'Player Implementation',
      phase_status: 'in_progress',
    });
    metrics.files_created += turn === 1 ? 2 : 0;
    metrics.files_modified += 1 + (turn % 2);
    metrics.tests_total += 3;
    await step({ status: 'running', wave, turn, phase: 'Player Implementation', phase_status: 'completed' });
    await step({ status: 'running', wave, turn, phase: 'Coach Validation', phase_status: 'in_progress' });
    metrics.tests_passed = Math.min(metrics.tests_total, metrics.tests_passed + 2 + turn);
    await step({ status: 'running', wave, turn, phase: 'Coach Validation', phase_status: 'completed' });
  }
}
metrics.tests_passed = metrics.tests_total;
await step({ status: 'completed', wave: 2, turn: 2, phase: 'Complete', phase_status: 'completed' });
process.stdout.write(`\nBuild ${taskId} completed.\n`);
