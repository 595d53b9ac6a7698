/**
 * `npm run bench:workflows`: 20 role workflows started at once on the real stack (gateway → orchestrator →
 * PostgreSQL → BullMQ flows over the `agents-<role>` queues on Redis → processes), with an instant agent: a bash
 * command that reads its prompt and answers OK at once (it is not an agent; it stands in for one).
 *
 * Baseline, in the same run: a bare BullMQ flow of the same shape per workflow (two analysts → consensus →
 * splitter → implementer → tester → reviewer) on queues of its own, whose workers spawn the same command the same
 * way, at the same concurrency. A hop is the time from a role's answer (its process's last line) to the next
 * role's process starting (its first line), read from the processes' own clock stamps: the scheduling cost of the
 * workflow, without the agent's.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlowProducer, type FlowJob, type Job, Worker } from 'bullmq';
import { eventually, freePort, ServiceProcess, TestEnv, WorkflowClient } from '#test-support';
import { HEADER, row, summarize } from './stats.js';
import { cleanUpOnInterrupt } from './interrupt.js';
import { profileArgs } from './profile.js';

const WORKFLOWS = Number(process.env['BENCH_WORKFLOWS'] ?? 20);
const LANES = Number(process.env['BENCH_CONCURRENCY'] ?? 20);
const profile = profileArgs('workflows');
const STAGES = ['consensus', 'splitter', 'implementer', 'tester', 'reviewer'];

const env = await TestEnv.create({
  STREAM_STORAGE: 'file',
  LOG_LEVEL: 'warn',
  AGENT_CONCURRENCY: `*=${LANES}`,
});
cleanUpOnInterrupt(() => env.cleanup());
const trace = join(env.root, 'trace.log');
const bareTrace = join(env.root, 'bare-trace.log');
/** The instant agent: stamps its start, reads the prompt, answers OK, stamps its answer. */
const agent = (file: string) =>
  `echo "$GUARDKIT_BUILD_ID $GUARDKIT_NODE start $(date +%s%N)" >> ${file}; cat > /dev/null; ` +
  `echo '{"status":"OK","summary":"ok","details":"ok"}'; echo "$GUARDKIT_BUILD_ID $GUARDKIT_NODE end $(date +%s%N)" >> ${file}`;

/** Hops per workflow from a trace: the last draft's answer → consensus start, then each stage → the next. */
async function hopsOf(file: string): Promise<number[]> {
  const at = new Map<string, number>();
  for (const line of (await readFile(file, 'utf8')).trim().split('\n')) {
    const [id, node, what, ns] = line.split(' ');
    at.set(`${id} ${node} ${what}`, Number(BigInt(ns) / 1000n) / 1000);
  }
  const ids = new Set([...at.keys()].map((k) => k.split(' ')[0]));
  const hops: number[] = [];
  for (const id of ids) {
    let previousEnd = Math.max(at.get(`${id} analyst-1 end`) ?? NaN, at.get(`${id} analyst-2 end`) ?? NaN);
    for (const node of STAGES) {
      hops.push((at.get(`${id} ${node} start`) ?? NaN) - previousEnd);
      previousEnd = at.get(`${id} ${node} end`) ?? NaN;
    }
  }
  return hops.filter((h) => Number.isFinite(h));
}

/** The bare flow: BullMQ alone, the same shape and command, workers at the same concurrency. */
async function bareFlows(): Promise<{ wallMs: number; hops: number[] }> {
  const connection = { url: env.urls.redisUrl };
  const prefix = `${env.namespace}-bare`;
  const roles = ['analyst', ...STAGES];
  const run = (job: Job<{ id: string; node: string }>) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn('bash', ['--norc', '-c', agent(bareTrace)], {
        env: {
          ...process.env,
          GUARDKIT_BUILD_ID: job.data.id,
          GUARDKIT_NODE: job.data.node,
        },
        detached: true,
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stdin.end('the prompt');
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
  const workers = roles.map(
    (role) => new Worker(`bare-${role}`, run, { connection, prefix, concurrency: LANES }),
  );
  const producer = new FlowProducer({ connection, prefix });
  const flow = (id: string): FlowJob => {
    let children: FlowJob[] = ['analyst-1', 'analyst-2'].map((node) => ({
      name: 'role',
      queueName: 'bare-analyst',
      data: { id, node },
    }));
    for (const node of STAGES)
      children = [{ name: 'role', queueName: `bare-${node}`, data: { id, node }, children }];
    return children[0];
  };
  const start = performance.now();
  const roots = await Promise.all(
    Array.from({ length: WORKFLOWS }, (_, i) => producer.add(flow(`bare-${i}`))),
  );
  await eventually(async () => {
    for (const root of roots) if (!(await root.job.isCompleted())) return undefined;
    return true;
  }, 120_000);
  const wallMs = performance.now() - start;
  await producer.close();
  await Promise.all(workers.map((w) => w.close()));
  return { wallMs, hops: await hopsOf(bareTrace) };
}

async function workflows(): Promise<{ wallMs: number; hops: number[] }> {
  const port = await freePort();
  const processEnv = {
    ...env.processEnv(),
    GATEWAY_PORT: String(port),
    AGENT_COMMAND: agent(trace),
  };
  const services = (['orchestrator', 'gateway'] as const).map((name) =>
    ServiceProcess.start(name, processEnv, profile.nodeArgs),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await eventually(
      async () =>
        (await fetch(`${baseUrl}/workflows?limit=1`).catch(() => undefined))?.ok ? true : undefined,
      30_000,
      'the gateway and the orchestrator',
    );
    const client = new WorkflowClient(baseUrl, env);
    const folders = await Promise.all(Array.from({ length: WORKFLOWS }, () => client.repository('bench')));
    const start = performance.now();
    const ids = await Promise.all(folders.map((cwd) => client.start({ description: 'bench', cwd })));
    for (const id of ids) {
      const done = await client.until(id, ['completed', 'failed'], 300_000);
      if (done.state !== 'completed')
        throw new Error(`workflow ${id} ${done.state}: ${JSON.stringify(done.failure)}`);
    }
    return { wallMs: performance.now() - start, hops: await hopsOf(trace) };
  } catch (error) {
    for (const service of services) console.error(`--- ${service.name}:\n${service.output.slice(-2000)}`);
    throw error;
  } finally {
    await Promise.all(services.map((service) => service.stop()));
  }
}

try {
  const bare = await bareFlows();
  const ours = await workflows();
  const b = summarize(bare.hops);
  const o = summarize(ours.hops);
  console.log(
    `${WORKFLOWS} workflows at once, 7 roles each (instant stand-in agent), ${LANES} per role at once`,
  );
  console.log(`baseline: bare BullMQ flows      wall ${(bare.wallMs / 1000).toFixed(2)} s`);
  console.log(`guardkit-stream workflows        wall ${(ours.wallMs / 1000).toFixed(2)} s`);
  console.log(HEADER);
  console.log(row('hop, bare BullMQ flow (answer → next start)', b));
  console.log(row('hop, guardkit-stream workflow', o));
  console.log(
    `ratio of medians ${(o.p50 / b.p50).toFixed(2)}×, of p99 ${(o.p99 / b.p99).toFixed(2)}× (aim: at most 2×; p99 hop under 100 ms)`,
  );
  if (profile.dir) console.log(`\nCPU profiles of the services (written as they stop): ${profile.dir}`);
} finally {
  await env.cleanup();
}
