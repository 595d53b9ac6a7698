/**
 * `npm run bench:e2e`: latency from the rename of a progress.json to its SSE event reaching an HTTP client,
 * through the three real services run as processes (as `npm start` runs them): 100 builds, 20 updates each,
 * about 200 updates a second, one SSE connection per build. In the same run, the floor: a bare JetStream
 * publish of the same payloads to an ordered consumer, on the same NATS, at the same rate.
 */
import 'reflect-metadata';
import { cpus } from 'node:os';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { ProgressFileWriter } from '#producers';
import {
  envelopeOf,
  eventually,
  freePort,
  progressUpdate,
  ServiceProcess,
  SseClient,
  TestEnv,
} from '#test-support';
import { CpuMeter, cpuMsPer, cpuRateTable, cpuTable, pidsNamed } from './process-cpu.js';
import { profileArgs } from './profile.js';
import { HEADER, pace, row, summarize } from './stats.js';
import { cleanUpOnInterrupt } from './interrupt.js';

const BUILDS = Number(process.env['BENCH_BUILDS'] ?? 100);
const UPDATES = Number(process.env['BENCH_UPDATES'] ?? 20);
const RATE = Number(process.env['BENCH_RATE'] ?? 200);
/** Seconds the stack is watched with nothing to do (timers, pollers, heartbeats) after the writes. */
const IDLE_SECONDS = Number(process.env['BENCH_IDLE_SECONDS'] ?? 10);
const TOTAL = BUILDS * UPDATES;

const port = await freePort();
// the ingestor's backstop scan at its default (the tests' 1 s would scan the 100 folders five times as often)
const env = await TestEnv.create({
  STREAM_STORAGE: 'file',
  GATEWAY_PORT: String(port),
  LOG_LEVEL: 'warn',
  INGEST_SCAN_INTERVAL_MS: '5000',
});
cleanUpOnInterrupt(() => env.cleanup());
const profile = profileArgs('e2e');
const services = (['orchestrator', 'ingestor', 'gateway'] as const).map((name) =>
  ServiceProcess.start(name, env.processEnv(), profile.nodeArgs),
);
// CPU per event of each process on the path, the bus and the databases included (/proc, so any process counts)
const meter = new CpuMeter({
  ...Object.fromEntries(services.map((s) => [s.name, () => (s.pid ? [s.pid] : [])])),
  'nats-server': () => pidsNamed('nats-server'),
  postgres: () => pidsNamed('postgres'),
  'redis-server': () => pidsNamed('redis-server'),
  'bench (clients)': () => [process.pid],
});
const baseUrl = `http://127.0.0.1:${port}`;

try {
  await eventually(
    async () => ((await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.ok ? true : undefined),
    30_000,
    'the gateway',
  );

  // Warm up: the whole path once, so connections and JIT are ready.
  const warm = await SseClient.open(`${baseUrl}/builds/BENCH-WARMUP/events`);
  await new ProgressFileWriter(env.root, 'BENCH-WARMUP').write(progressUpdate(1));
  await warm.waitForCount(1, 20_000);
  warm.close();

  const written = new Map<string, number>();
  const latencies: number[] = [];
  const ids = Array.from({ length: BUILDS }, (_, i) => `BENCH-${String(i).padStart(3, '0')}`);
  const clients = await Promise.all(ids.map((id) => SseClient.open(`${baseUrl}/builds/${id}/events`)));
  for (const client of clients) {
    client.onEvent = (event) => {
      const payload = envelopeOf(event.data).payload;
      const sent = written.get(`${payload.build_id}:${payload.turn}`);
      if (sent !== undefined) latencies.push(event.at - sent);
    };
  }
  const writers = ids.map((id) => new ProgressFileWriter(env.root, id));
  // Where the time goes: the same events as they appear on the bus (a core subscription, no JetStream).
  const onBus: number[] = [];
  const { nc: probe } = await env.nats();
  probe.subscribe(env.subjects.allBuildStatus(), {
    callback: (_error, msg) => {
      const payload = envelopeOf(msg.string()).payload;
      const sent = written.get(`${payload.build_id}:${payload.turn}`);
      if (sent !== undefined) onBus.push(performance.now() - sent);
    },
  });

  // The writes are measured from a quiet stack: what the services' start left running is not an event's cost.
  const settled = await meter.settle(services.map((s) => s.name));
  meter.start();
  const start = performance.now();
  for (let i = 0; i < TOTAL; i++) {
    await pace(i, start, RATE);
    const writer = writers[i % BUILDS];
    const turn = Math.floor(i / BUILDS) + 1;
    // Stamped just before the write: the temp file's write (tens of µs) counts too, rather than risk an event
    // that comes back before the rename's callback and goes unmatched.
    written.set(`${writer.taskId}:${turn}`, performance.now());
    await writer.write(progressUpdate(turn, { turn_max: UPDATES }));
  }
  const writeSeconds = (performance.now() - start) / 1000;
  const deadline = Date.now() + 30_000;
  while (latencies.length < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const pathCpu = meter.stop();
  // Idle, once what the writes left behind (GC, compilation) has settled; the SSE clients stay connected.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  meter.start();
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const idleCpu = meter.stop();
  for (const client of clients) client.close();
  const stored =
    (await env.nats().then(({ jsm }) => jsm.streams.info(env.subjects.streamName('builds')))).state.messages -
    1;

  // The floor: the same payloads, a bare JetStream publish straight to an ordered consumer.
  const { nc, jsm } = await env.nats();
  const floorStream = `${env.namespace}_BENCH_FLOOR`;
  await jsm.streams.add({ name: floorStream, subjects: [`${env.namespace}.floor.>`] });
  const js = jetstream(nc);
  const floor: number[] = [];
  const sentAt = new Map<string, number>();
  const consumer = await js.consumers.get(floorStream, {
    filter_subjects: `${env.namespace}.floor.>`,
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await consumer.consume();
  const receiving = (async () => {
    for await (const msg of messages) {
      const sent = sentAt.get(msg.subject + ':' + String(msg.headers?.get('n')));
      if (sent !== undefined) floor.push(performance.now() - sent);
      if (floor.length >= TOTAL) break;
    }
  })();
  const { headers } = await import('@nats-io/nats-core');
  meter.start();
  const floorStart = performance.now();
  for (let i = 0; i < TOTAL; i++) {
    await pace(i, floorStart, RATE);
    const id = ids[i % BUILDS];
    const subject = `${env.namespace}.floor.${id}`;
    const h = headers();
    h.set('n', String(i));
    const data = JSON.stringify(progressUpdate(Math.floor(i / BUILDS) + 1));
    sentAt.set(`${subject}:${i}`, performance.now());
    await js.publish(subject, data, { headers: h, msgID: `${id}-${i}` });
  }
  await Promise.race([receiving, new Promise((r) => setTimeout(r, 10_000))]);
  const floorCpu = meter.stop();
  await messages.close();

  const e2e = summarize(latencies);
  const bare = summarize(floor);
  console.log(
    `\nbench:e2e  ${BUILDS} builds x ${UPDATES} updates at ${RATE}/s (written in ${writeSeconds.toFixed(1)} s)`,
  );
  console.log(
    `machine: ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, nats-server ${nc.info?.version}\n`,
  );
  console.log(HEADER);
  console.log(row('progress.json rename -> on the bus (ingestor)', summarize(onBus)));
  console.log(row('progress.json rename -> SSE event (services)', e2e));
  console.log(row('JetStream publish -> ordered consumer (floor)', bare));
  console.log(
    `\nservices quiet before the writes after ${(settled.ms / 1000).toFixed(1)} s${settled.quiet ? '' : ' (NOT quiet: gave up waiting)'}`,
  );
  console.log(
    `\nwritten ${TOTAL}, stored on the stream ${stored}, on the bus ${onBus.length}, received over SSE ${latencies.length}`,
  );
  console.log(`\n${cpuTable('CPU, rename -> SSE through the services', pathCpu, TOTAL)}`);
  console.log(
    `\n${cpuTable('CPU, the floor (bare publish -> ordered consumer, in the bench process)', floorCpu, TOTAL)}`,
  );
  console.log(
    `\n${cpuRateTable(`CPU while idle, after the writes (${BUILDS} SSE clients open)`, idleCpu, IDLE_SECONDS)}`,
  );
  if (profile.dir) console.log(`\nCPU profiles of the services (written as they stop): ${profile.dir}`);
  console.log(
    JSON.stringify({
      bench: 'e2e',
      builds: BUILDS,
      updates: UPDATES,
      rate: RATE,
      e2e,
      floor: bare,
      settled_ms: Math.round(settled.ms),
      cpu_ms_per_event: cpuMsPer(pathCpu, TOTAL),
      idle_cpu_ms_per_second: cpuMsPer(idleCpu, IDLE_SECONDS),
    }),
  );
  if (latencies.length < stored) process.exitCode = 1; // an event on the stream that no client got is a bug
} finally {
  await Promise.all(services.map((s) => s.stop()));
  await env.cleanup();
}
