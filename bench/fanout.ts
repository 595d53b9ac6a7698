/**
 * `npm run bench:fanout`: one event to every build, delivered to N SSE clients (1,000, 5,000 and 10,000 by
 * default; FANOUT_CLIENTS=1000,5000 to choose), spread over 100 builds, the clients in a process of their
 * own. The gateway (run as `npm start` runs it) against the baseline in the same run: a bare node:http server
 * fed by one core NATS subscription (bench/fanout-bare-server.ts). Each server is started fresh for each N,
 * on a nats-server of the bench's own (so its memory and consumers are the bench's alone). Prints delivery
 * latency (p50/p99/max), the server's memory per connection, the NATS server's memory and consumer count
 * while open and after close, and the time to open the connections.
 */
import 'reflect-metadata';
import { type ChildProcess, fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { createEnvelope } from '#contracts';
import { eventually, freePort, NatsServer, ServiceProcess, TestEnv } from '#test-support';
import { summarize } from './stats.js';
import { cleanUpOnInterrupt } from './interrupt.js';

const COUNTS = (process.env['FANOUT_CLIENTS'] ?? '1000,5000,10000').split(',').map(Number);
const BUILDS = Number(process.env['FANOUT_BUILDS'] ?? 100);
const ROUNDS = Number(process.env['FANOUT_ROUNDS'] ?? 5);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

type Kind = 'bare' | 'gateway';
interface Result {
  kind: Kind;
  clients: number;
  connectSeconds: number;
  latency: ReturnType<typeof summarize>;
  kbPerConnection: number;
  natsMemoryMb: number;
  consumersOpen: number;
  consumersAfterClose: number;
}

const nats = await NatsServer.start({ monitor: true });
const env = await TestEnv.create({ NATS_URL: nats.url, STREAM_STORAGE: 'file', LOG_LEVEL: 'warn' });
cleanUpOnInterrupt(() => env.cleanup().then(() => nats.stop()));
const { nc, jsm } = await env.nats();
const js = jetstream(nc);
const stream = env.subjects.streamName('builds');
const now = () => performance.timeOrigin + performance.now();

/** Kilobytes of resident memory of a process. */
async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function consumers(): Promise<number> {
  let count = 0;
  for (const role of ['builds', 'triggers', 'outbox'] as const) {
    const info = await jsm.streams.info(env.subjects.streamName(role)).catch(() => undefined);
    count += info?.state.consumer_count ?? 0;
  }
  return count;
}

async function publishRound(round: number): Promise<void> {
  await Promise.all(
    Array.from({ length: BUILDS }, (_, b) => {
      const payload = { build_id: `FAN-${b}`, status: 'running', bench_round: round, sent_at: now() };
      const envelope = createEnvelope({ source_id: 'bench', event_type: 'build_progress', payload });
      return js.publish(env.subjects.buildStatus(`FAN-${b}`), JSON.stringify(envelope));
    }),
  );
}

/** Starts one server under test; resolves with its base URL, pid and a stop function. */
async function startServer(kind: Kind): Promise<{ baseUrl: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  if (kind === 'gateway') {
    const gateway = ServiceProcess.start('gateway', { ...env.processEnv(), GATEWAY_PORT: String(port) });
    await eventually(
      async () => ((await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.ok ? true : undefined),
      30_000,
      'the gateway',
    );
    return { baseUrl, pid: gateway.pid!, stop: () => gateway.stop().then(() => undefined) };
  }
  const bare = fork(here('./fanout-bare-server.js'), [nats.url, env.namespace, String(port)]);
  await new Promise((resolve) => bare.once('message', resolve));
  return {
    baseUrl,
    pid: bare.pid!,
    stop: () =>
      new Promise((resolve) => {
        bare.once('exit', () => resolve());
        bare.kill('SIGTERM');
      }),
  };
}

/** The client process's next message of a type. */
function reply<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const listener = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off('message', listener);
      resolve(message as T);
    };
    child.on('message', listener);
  });
}

function ask<T>(child: ChildProcess, command: object, answer: string): Promise<T> {
  const answered = reply<T>(child, answer);
  child.send(command);
  return answered;
}

async function measure(kind: Kind, clients: number): Promise<Result> {
  const server = await startServer(kind);
  const client = fork(here('./fanout-clients.js'));
  try {
    // Warm the server up (a first connection and event), then take the figures before the crowd arrives.
    await ask(client, { type: 'open', baseUrl: server.baseUrl, clients: BUILDS, builds: BUILDS }, 'opened');
    await ask(client, { type: 'round', round: 0 }, 'armed');
    const warmed = reply(client, 'round');
    await publishRound(0);
    await warmed;
    await ask(client, { type: 'close' }, 'closed');
    await new Promise((r) => setTimeout(r, 1000));
    const rssBefore = await rssKb(server.pid);
    const natsBefore = await nats.memory();

    const opened = await ask<{ connectMs: number; opened: number }>(
      client,
      { type: 'open', baseUrl: server.baseUrl, clients, builds: BUILDS },
      'opened',
    );
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfter = await rssKb(server.pid);
    const natsAfter = await nats.memory();
    const consumersOpen = await consumers();

    const latencies: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await ask(client, { type: 'round', round }, 'armed');
      const done = reply<{ latencies: number[] }>(client, 'round');
      await publishRound(round);
      const result = await done;
      if (result.latencies.length < clients)
        console.warn(`${kind} ${clients}: round ${round} reached ${result.latencies.length} clients`);
      latencies.push(...result.latencies);
      await new Promise((r) => setTimeout(r, 500));
    }
    await ask(client, { type: 'close' }, 'closed');
    await new Promise((r) => setTimeout(r, 1000));
    return {
      kind,
      clients: opened.opened,
      connectSeconds: opened.connectMs / 1000,
      latency: summarize(latencies),
      kbPerConnection: (rssAfter - rssBefore) / clients,
      natsMemoryMb: (natsAfter - natsBefore) / 1_048_576,
      consumersOpen,
      consumersAfterClose: await consumers(),
    };
  } finally {
    client.kill();
    await server.stop();
  }
}

const results: Result[] = [];
const natsVersion = nc.info?.version ?? '?';
try {
  // The streams exist before the bare server runs: the gateway makes them on its first start.
  await (await startServer('gateway')).stop();
  await jsm.streams.info(stream);
  for (const clients of COUNTS) {
    for (const kind of ['bare', 'gateway'] as const) {
      const result = await measure(kind, clients);
      results.push(result);
      console.error(JSON.stringify(result));
    }
  }
} finally {
  await env.cleanup();
  await nats.stop();
}

const f = (v: number, digits = 1) => v.toFixed(digits);
console.log(
  `\nbench:fanout  one event to each of ${BUILDS} builds, ${ROUNDS} rounds; clients spread evenly over the builds`,
);
console.log(
  `machine: ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, nats-server ${natsVersion}\n`,
);
console.log(
  '| clients | server | p50 ms | p99 ms | max ms | KB per connection | NATS memory +MB | consumers open / after close | connect s |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.clients} | ${r.kind} | ${f(r.latency.p50)} | ${f(r.latency.p99)} | ${f(r.latency.max)} | ${f(r.kbPerConnection)} | ${f(r.natsMemoryMb)} | ${r.consumersOpen} / ${r.consumersAfterClose} | ${f(r.connectSeconds, 2)} |`,
  );
}
console.log(
  '\naims (gateway against bare, same N): latency <= 1.3x, KB per connection <= 2x, consumers flat',
);
for (const clients of COUNTS) {
  const bare = results.find((r) => r.kind === 'bare' && r.clients === clients);
  const gateway = results.find((r) => r.kind === 'gateway' && r.clients === clients);
  if (!bare || !gateway) continue;
  const p50 = gateway.latency.p50 / bare.latency.p50;
  const p99 = gateway.latency.p99 / bare.latency.p99;
  const kb = gateway.kbPerConnection / bare.kbPerConnection;
  console.log(
    `${clients}: p50 ${f(p50, 2)}x, p99 ${f(p99, 2)}x, KB per connection ${f(kb, 2)}x, consumers ${gateway.consumersOpen} open, ${gateway.consumersAfterClose} after close`,
  );
}
console.log(JSON.stringify({ bench: 'fanout', builds: BUILDS, rounds: ROUNDS, results }));
