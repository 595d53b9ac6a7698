/**
 * `npm run bench:triggers`: 10,000 triggers through the real path (NATS request/reply → the orchestrator's
 * admission in PostgreSQL → BullMQ on Redis → the worker and its attempt ledger → a status event per state
 * change on JetStream), delivered by an in-memory adapter instead of tmux.
 *
 * Ceiling, in the same run and on the same Redis: a bare BullMQ queue and a no-op worker with the same
 * concurrency, fed by the same number of producers in flight. Both are timed from the first request to the
 * last job done.
 */
import 'reflect-metadata';
import { Queue, Worker } from 'bullmq';
import { redisConnection } from '#queues';
import { TestEnv } from '#test-support';
import { createOrchestrator } from '../apps/orchestrator/src/orchestrator.module.js';
import { MemoryAdapter } from '../apps/orchestrator/src/triggers/delivery/memory-adapter.js';
import { cleanUpOnInterrupt } from './interrupt.js';

const COUNT = Number(process.env['BENCH_TRIGGERS'] ?? 10_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const IN_FLIGHT = Number(process.env['BENCH_IN_FLIGHT'] ?? 64);

/** Runs `task(i)` for i < count with at most `inFlight` at once. */
async function pool(count: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const env = await TestEnv.create({
  STREAM_STORAGE: 'file',
  LOG_LEVEL: 'warn',
  TRIGGER_CONCURRENCY: String(CONCURRENCY),
});
cleanUpOnInterrupt(() => env.cleanup());
const connection = redisConnection(env.urls.redisUrl);

async function bareBullmq(): Promise<number> {
  const queue = new Queue('bench-bare', { connection, prefix: env.namespace });
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const worker = new Worker('bench-bare', () => Promise.resolve(), {
    connection,
    prefix: env.namespace,
    concurrency: CONCURRENCY,
  });
  worker.on('completed', () => ++done === COUNT && finished());
  await worker.waitUntilReady();
  const start = performance.now();
  await pool(COUNT, IN_FLIGHT, (i) =>
    queue.add('job', { trigger_id: `bare-${i}` }, { jobId: `bare-${i}`, removeOnComplete: true }),
  );
  await allDone;
  const seconds = (performance.now() - start) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return COUNT / seconds;
}

async function guardkitTriggers(): Promise<{
  rate: number;
  attempts: number;
  events: number;
  seconds: number;
  eventsSeconds: number;
}> {
  const adapter = new MemoryAdapter();
  const orchestrator = await createOrchestrator(env.settings, { deliveryAdapter: adapter });
  const { nc } = await env.nats();
  const call = async (method: 'sessions.register' | 'triggers.create', body: object) => {
    const reply = await nc.request(env.subjects.rpc(method), JSON.stringify(body), { timeout: 30_000 });
    const answer = reply.json<{ ok: boolean; error?: { message: string } }>();
    if (!answer.ok) throw new Error(`${method}: ${answer.error?.message}`);
  };
  await call('sessions.register', {
    agent_id: 'bench',
    workspace_id: 'ws',
    runtime: 'tmux',
    tmux_target: 'bench',
    managed: true,
    resumable: false,
  });
  const start = performance.now();
  await pool(COUNT, IN_FLIGHT, (i) =>
    call('triggers.create', {
      workspace_id: 'ws',
      thread_id: `thread-${i}`, // one per trigger: the rate limit and loop guard count per thread
      target_agent_id: 'bench',
      reason: 'bench',
      prompt: `wake up for task ${i}`,
    }),
  );
  await adapter.waitFor(COUNT);
  const seconds = (performance.now() - start) / 1000;
  // status events are published by the EventRelay after their commit: wait until all of them are out
  const { jsm: manager } = await env.nats();
  const stream = env.subjects.streamName('triggers');
  while ((await manager.streams.info(stream)).state.messages < COUNT * 3) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const eventsSeconds = (performance.now() - start) / 1000;
  const [{ attempts }] = await env.query<{ attempts: number }>(
    `SELECT count(*)::int AS attempts FROM trigger_attempts`,
  );
  const { jsm } = await env.nats();
  const events = (await jsm.streams.info(env.subjects.streamName('triggers'))).state.messages;
  await orchestrator.close();
  return { rate: COUNT / seconds, attempts, events, eventsSeconds, seconds };
}

try {
  const ceiling = await bareBullmq();
  const ours = await guardkitTriggers();
  const ratio = ours.rate / ceiling;
  console.log(`${COUNT} triggers, worker concurrency ${CONCURRENCY}, ${IN_FLIGHT} requests in flight`);
  console.log(`ceiling: bare BullMQ, no-op worker        ${ceiling.toFixed(0).padStart(7)} jobs/s`);
  console.log(`guardkit-stream triggers (memory adapter) ${ours.rate.toFixed(0).padStart(7)} triggers/s`);
  console.log(
    `ratio                                     ${ratio.toFixed(2).padStart(7)}   (aim: at least 0.30)`,
  );
  console.log(`ledger: ${ours.attempts} attempts; ${ours.events} status events on the stream`);
  console.log(
    `last delivery after ${ours.seconds.toFixed(1)} s; every status event on the stream after ` +
      `${ours.eventsSeconds.toFixed(1)} s (published by the EventRelay after their commit)`,
  );
} finally {
  await env.cleanup();
}
