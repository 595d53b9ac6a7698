/**
 * `npm run bench:outbox`: the AutoAppDev outbox bridge through the real services (run as processes).
 *
 * 1. Burst: 10,000 message files are written while the ingestor is stopped, then it starts and drains them;
 *    files per second from its first publish to its last (seen on the bus). Ceiling, in the same run: the same
 *    payloads published one after another (each awaited, as the ingestor does) with the same client.
 * 2. Steady: 100 files a second for 10 s, each written as runners do (temp file + rename); latency from the
 *    rename to the SSE event on /outbox/events.
 */
import 'reflect-metadata';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { Envelope, OutboxMessagePayload } from '#contracts';
import { eventually, freePort, ServiceProcess, SseClient, TestEnv } from '#test-support';
import { CpuMeter, cpuTable, pidsNamed } from './process-cpu.js';
import { profileArgs } from './profile.js';
import { HEADER, pace, row, summarize } from './stats.js';
import { cleanUpOnInterrupt } from './interrupt.js';

const BURST = Number(process.env['BENCH_BURST'] ?? 10_000);
const STEADY_RATE = Number(process.env['BENCH_RATE'] ?? 100);
const STEADY_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);

const port = await freePort();
const env = await TestEnv.create({
  STREAM_STORAGE: 'file',
  GATEWAY_PORT: String(port),
  LOG_LEVEL: 'warn',
  INGEST_SCAN_INTERVAL_MS: '5000',
});
cleanUpOnInterrupt(() => env.cleanup());
const outbox = join(env.root, 'runtime', 'outbox');
await mkdir(outbox, { recursive: true });
const baseUrl = `http://127.0.0.1:${port}`;
const contentOf = (data: string) => (JSON.parse(data) as Envelope<OutboxMessagePayload>).payload.content;
const text = (i: number) => `META_TASK t${i}: done\nAll acceptance checks passed for task ${i}.`;
const services: ServiceProcess[] = [];
const profile = profileArgs('outbox');
// CPU per file of each process (/proc), the bus and the databases included
const meter = new CpuMeter({
  orchestrator: () => pidsOf('orchestrator'),
  ingestor: () => pidsOf('ingestor'),
  gateway: () => pidsOf('gateway'),
  'nats-server': () => pidsNamed('nats-server'),
  postgres: () => pidsNamed('postgres'),
  'bench (publisher)': () => [process.pid],
});
function pidsOf(name: string): number[] {
  const pid = services.find((s) => s.name === name)?.pid;
  return pid ? [pid] : [];
}

try {
  const { nc, jsm } = await env.nats();
  const seen = new Map<string, number>();
  nc.subscribe(env.subjects.streamSubjects('outbox')[0], {
    callback: (_e, msg) => {
      seen.set(contentOf(msg.string()), performance.now());
    },
  });

  // 1. Burst.
  for (let i = 0; i < BURST; i++) {
    await writeFile(join(outbox, `.tmp.${i}`), text(i));
    await rename(join(outbox, `.tmp.${i}`), join(outbox, `${1_800_000_000_000 + i}_pipeline.md`));
  }
  services.push(
    ...(['orchestrator', 'ingestor', 'gateway'] as const).map((name) =>
      ServiceProcess.start(name, env.processEnv(), profile.nodeArgs),
    ),
  );
  meter.start(); // the services' start counts too: the burst begins with it
  await eventually(() => (seen.size >= BURST ? true : undefined), 120_000, 'the burst on the bus');
  const burstCpu = meter.stop();
  const times = [...seen.values()];
  const burstSeconds = (Math.max(...times) - Math.min(...times)) / 1000;
  const burstRate = (BURST - 1) / burstSeconds;

  // The ceiling: the same payloads, one awaited publish after another, same client library and NATS.
  await jsm.streams.add({ name: `${env.namespace}_BENCH_CEILING`, subjects: [`${env.namespace}.ceiling.>`] });
  const js = jetstream(nc);
  meter.start();
  const ceilingStart = performance.now();
  for (let i = 0; i < BURST; i++) {
    await js.publish(`${env.namespace}.ceiling.local.pipeline`, JSON.stringify({ content: text(i) }), {
      msgID: `c-${i}`,
    });
  }
  const ceilingRate = BURST / ((performance.now() - ceilingStart) / 1000);
  const ceilingCpu = meter.stop();

  // 2. Steady.
  await eventually(
    async () => ((await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.ok ? true : undefined),
    30_000,
  );
  const client = await SseClient.open(`${baseUrl}/outbox/events`);
  await client.waitForCount(1); // the latest message, then live
  const written = new Map<string, number>();
  const latencies: number[] = [];
  client.onEvent = (event) => {
    const sent = written.get(contentOf(event.data));
    if (sent !== undefined) latencies.push(event.at - sent);
  };
  const total = STEADY_RATE * STEADY_SECONDS;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    await pace(i, start, STEADY_RATE);
    const body = `steady ${i}`;
    await writeFile(join(outbox, `.tmp.s${i}`), body);
    written.set(body, performance.now()); // stamped before the rename: it counts
    await rename(join(outbox, `.tmp.s${i}`), join(outbox, `${1_900_000_000_000 + i}_pipeline.md`));
  }
  await eventually(
    () => (latencies.length >= total ? true : undefined),
    30_000,
    'the steady messages over SSE',
  ).catch(() => undefined);
  client.close();

  console.log(`\nbench:outbox  burst of ${BURST} files; steady ${STEADY_RATE}/s for ${STEADY_SECONDS} s`);
  console.log(
    `machine: ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, nats-server ${nc.info?.version}\n`,
  );
  console.log(`${'burst'.padEnd(44)} ${'files/s'.padStart(10)}`);
  console.log(`${'outbox files -> stream (ingestor)'.padEnd(44)} ${burstRate.toFixed(0).padStart(10)}`);
  console.log(
    `${'bare JetStream publish, awaited (ceiling)'.padEnd(44)} ${ceilingRate.toFixed(0).padStart(10)}`,
  );
  console.log(`${'ratio'.padEnd(44)} ${(burstRate / ceilingRate).toFixed(2).padStart(10)}\n`);
  console.log(
    cpuTable('CPU, the burst (services from their start to the last file on the bus)', burstCpu, BURST),
  );
  console.log(
    `\n${cpuTable('CPU, the ceiling (awaited publishes from the bench process)', ceilingCpu, BURST)}\n`,
  );
  if (profile.dir) console.log(`CPU profiles of the services (written as they stop): ${profile.dir}\n`);
  console.log(HEADER);
  console.log(row('outbox rename -> SSE event (steady)', summarize(latencies)));
  console.log(`\nsteady: written ${total}, received over SSE ${latencies.length}`);
  console.log(
    JSON.stringify({
      bench: 'outbox',
      burst: BURST,
      burstRate,
      ceilingRate,
      ratio: burstRate / ceilingRate,
      steady: summarize(latencies),
    }),
  );
  if (latencies.length < total) process.exitCode = 1;
} finally {
  await Promise.all(services.map((s) => s.stop()));
  await env.cleanup();
}
