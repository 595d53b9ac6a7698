/**
 * `npm run bench:pipelines`: 50 AAPS pipelines of 20 `run` actions (`true`) submitted at once to the real
 * stack (gateway → orchestrator → PostgreSQL → the `agents-implementer` queue on Redis → `bash -lc true` in its
 * own process group → build status events through the relay → JetStream → SSE).
 *
 * Baseline, in the same run: the same 1,000 commands (`bash --norc -lc true`, as the executor runs them) run by bare bash loops, as many in
 * parallel as the agent queue runs actions (AGENT_CONCURRENCY). The overhead per action is the difference of
 * the two wall times, per action and per lane. Latency: from an action's end (its row's `ended_at`, written
 * when its process has exited) to the status event that says so, read by an SSE client on `/events?builds=`.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BuildStatusPayload, Envelope } from '#contracts';
import { eventually, freePort, PipelineClient, ServiceProcess, SseClient, TestEnv } from '#test-support';
import { HEADER, row, summarize } from './stats.js';
import { cleanUpOnInterrupt } from './interrupt.js';
import { profileArgs } from './profile.js';

const PIPELINES = Number(process.env['BENCH_PIPELINES'] ?? 50);
const ACTIONS = Number(process.env['BENCH_ACTIONS'] ?? 20);
const LANES = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const profile = profileArgs('pipelines');
const exec = promisify(execFile);

// An empty HOME: a login shell (`bash -lc`) then reads /etc/profile only, as on a clean machine, for the
// baseline and the actions alike; this machine's root profile alone costs about 90 ms a shell.
const home = await mkdtemp(join(tmpdir(), 'bench-home-'));
process.env['HOME'] = home;

const env = await TestEnv.create({
  STREAM_STORAGE: 'file',
  LOG_LEVEL: 'warn',
  AGENT_CONCURRENCY: `*=${LANES}`,
});
cleanUpOnInterrupt(() => env.cleanup());

/** The same commands, bare: LANES bash loops in parallel, each running its share of `bash -lc true`. */
async function bareLoops(): Promise<number> {
  const total = PIPELINES * ACTIONS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: LANES }, (_, lane) => {
      const count = Math.floor(total / LANES) + (lane < total % LANES ? 1 : 0);
      return exec('bash', ['-c', `for i in $(seq ${count}); do bash --norc -lc true; done`]);
    }),
  );
  return performance.now() - start;
}

/** PostgreSQL's count of committed transactions in the benchmark's database (each statement outside one counts). */
async function commitsSoFar(): Promise<number> {
  const [row] = await env.query<{ n: string }>(
    'SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(row?.n ?? NaN);
}

interface Measured {
  wallMs: number;
  latencies: number[];
  actions: number;
  /** Transactions committed from the first submit until the services stopped. */
  commits: number;
}

async function pipelines(): Promise<Measured> {
  // the orchestrator and the gateway in processes of their own, as they run (and as bench:e2e runs them)
  const port = await freePort();
  const processEnv = { ...env.processEnv(), GATEWAY_PORT: String(port), HOME: home };
  const services = (['orchestrator', 'gateway'] as const).map((name) =>
    ServiceProcess.start(name, processEnv, profile.nodeArgs),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  let measured: Awaited<ReturnType<typeof measure>>;
  try {
    measured = await measure(baseUrl);
  } finally {
    // also when they never became ready: no service outlives the benchmark
    await Promise.all(services.map((service) => service.stop()));
  }
  // a backend reports its counts when it exits (or idles), so they are read once the services are gone
  const { commitsBefore, ...rest } = measured;
  return { ...rest, commits: (await commitsSoFar()) - commitsBefore };
}

async function measure(baseUrl: string): Promise<Omit<Measured, 'commits'> & { commitsBefore: number }> {
  // ready when the gateway answers a query the orchestrator answers
  await eventually(
    async () => ((await fetch(`${baseUrl}/pipelines?limit=1`).catch(() => undefined))?.ok ? true : undefined),
    30_000,
    'the gateway and the orchestrator',
  );
  const client = new PipelineClient(baseUrl, env);
  const text = [
    'AUTOAPPDEV_PIPELINE 1',
    'TASK {"id":"t1","title":"Bench"}',
    '  STEP {"id":"w","title":"Work","block":"work"}',
    ...Array.from(
      { length: ACTIONS },
      (_, i) => `    ACTION {"id":"a${i}","kind":"run","params":{"cmd":"true"}}`,
    ),
  ].join('\n');
  await mkdir(join(env.root, 'workspaces'), { recursive: true });
  const folders = await Promise.all(Array.from({ length: PIPELINES }, () => client.workspace('bench')));
  const { jsm } = await env.nats();
  const before = (await jsm.streams.info(env.subjects.streamName('builds'))).state.last_seq;
  const commitsBefore = await commitsSoFar();
  const start = performance.now();
  const runs = await Promise.all(folders.map((cwd) => client.start({ script_text: text, cwd })));
  // One client on all the runs, from before they started (Last-Event-ID): actions that ended before it was
  // connected reach it from history, not live, and are left out of the latency figures.
  const sse = await SseClient.open(`${baseUrl}/events?builds=${runs.join(',')}`, {
    'Last-Event-ID': String(before),
  });
  const connectedAt = Date.now();
  const received = new Map<string, number>(); // `${run}/${action}` → when (epoch ms) its `completed` event arrived
  for (const runId of runs) await client.until(runId, ['completed', 'failed'], 600_000);
  const wallMs = performance.now() - start;
  await sse.waitFor((events) => events.filter((e) => e.event === 'end').length >= PIPELINES, 60_000);
  for (const e of sse.events) {
    if (e.event !== 'status') continue;
    const p = (JSON.parse(e.data) as Envelope<BuildStatusPayload>).payload;
    if (p.action_status === 'completed')
      received.set(`${p.build_id}/${String(p.action_id)}`, performance.timeOrigin + e.at);
  }
  sse.close();
  const rows = await env.query<{ run_id: string; action_id: string; ended_ms: string }>(
    `SELECT run_id, action_id, (extract(epoch from ended_at) * 1000)::text AS ended_ms FROM pipeline_action_runs`,
  );
  const latencies = rows
    .filter((r) => Number(r.ended_ms) > connectedAt + 100)
    .map((r) => (received.get(`${r.run_id}/${r.action_id}`) ?? NaN) - Number(r.ended_ms))
    .filter((ms) => Number.isFinite(ms));
  return { wallMs, latencies, actions: rows.length, commitsBefore };
}

try {
  const bareMs = await bareLoops();
  const ours = await pipelines();
  const total = PIPELINES * ACTIONS;
  const perAction = (ms: number) => (ms * LANES) / total;
  const overhead = perAction(ours.wallMs) - perAction(bareMs);
  console.log(
    `${PIPELINES} pipelines × ${ACTIONS} run actions (true), ${LANES} at once (AGENT_CONCURRENCY=*=${LANES})`,
  );
  console.log(
    `baseline: bare bash loops    ${(total / (bareMs / 1000)).toFixed(0).padStart(6)} actions/s   ${perAction(bareMs).toFixed(2).padStart(7)} ms per action per lane`,
  );
  console.log(
    `guardkit-stream pipelines    ${(total / (ours.wallMs / 1000)).toFixed(0).padStart(6)} actions/s   ${perAction(ours.wallMs).toFixed(2).padStart(7)} ms per action per lane`,
  );
  console.log(`overhead per action          ${overhead.toFixed(2).padStart(14)} ms   (aim: at most 15 ms)`);
  console.log(`${ours.actions} executions recorded`);
  console.log(
    `PostgreSQL commits per action       ${(ours.commits / total).toFixed(1).padStart(7)}      (driver, workers, relay, projections; each lone statement counts)`,
  );
  console.log(HEADER);
  console.log(row('action end (ended_at) → its SSE event', summarize(ours.latencies)));
  console.log('(aim: p99 at most 50 ms)');
  if (profile.dir) console.log(`\nCPU profiles of the services (written as they stop): ${profile.dir}`);
} finally {
  await env.cleanup();
}
