/**
 * `npm run bench:failover`: what a writer sees when the server leading a stream of a three-server cluster goes
 * away. Three nats-servers of the run's own on loopback (never the shared one), one stream with three replicas
 * (file storage), a publisher that awaits each acknowledgement at BENCH_RATE a second and sends an unanswered
 * publish again with the same Nats-Msg-Id after NATS_PUBLISH_TIMEOUT_MS, as the services do.
 *
 * Phases: steady (the baseline, same run), the stream's leader killed with SIGKILL, back after BENCH_DOWN_S.
 * Prints the acknowledgement latency of each phase, the longest pause between two acknowledgements, the
 * publishes that had to be sent again, how long until the stream had three current replicas after the server
 * came back, and whether every message was stored once.
 */
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsCluster } from '#test-support';
import { HEADER, pace, row, summarize } from './stats.js';
import { cleanUpOnInterrupt } from './interrupt.js';

const RATE = Number(process.env['BENCH_RATE'] ?? 100);
const STEADY_S = 5;
const DOWN_S = Number(process.env['BENCH_DOWN_S'] ?? 15);
const AFTER_S = 5;
const TIMEOUT_MS = Number(process.env['NATS_PUBLISH_TIMEOUT_MS'] ?? 1000);

const cluster = await NatsCluster.start(3);
cleanUpOnInterrupt(() => cluster.stop());
const nc = await connect({ servers: cluster.servers.map((s) => s.url), maxReconnectAttempts: -1 });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc, { timeout: TIMEOUT_MS });
const stream = 'FAILOVER';
await jsm.streams.add({
  name: stream,
  subjects: ['failover.>'],
  num_replicas: 3,
  storage: StorageType.File,
  allow_direct: true,
});

type Phase = 'steady' | 'leader down' | 'back';
const latencies: Record<Phase, number[]> = { steady: [], 'leader down': [], back: [] };
let phase: Phase = 'steady';
let resent = 0;
/** Publishes that needed more than one attempt. */
let delayed = 0;
let failed = 0;
let lastAck = performance.now();
let longestPause = 0;

async function publish(i: number): Promise<void> {
  const sent = performance.now();
  const at = phase;
  for (let attempt = 1; ; attempt++) {
    try {
      await js.publish(`failover.${i % 20}`, JSON.stringify({ i }), { msgID: `m-${i}` });
      break;
    } catch {
      if (attempt === 600) {
        failed++; // a minute without an acknowledgement
        return;
      }
      if (attempt === 1) delayed++;
      resent++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const now = performance.now();
  longestPause = Math.max(longestPause, now - lastAck);
  lastAck = now;
  latencies[at].push(now - sent);
}

const total = RATE * (STEADY_S + DOWN_S + AFTER_S);
const start = performance.now();
let killedAt = 0;
let backAt = 0;
const killed = await cluster.leaderOf(stream);
for (let i = 0; i < total; i++) {
  await pace(i, start, RATE);
  const elapsed = (performance.now() - start) / 1000;
  if (phase === 'steady' && elapsed >= STEADY_S) {
    phase = 'leader down';
    killedAt = performance.now();
    void killed.kill();
  } else if (phase === 'leader down' && elapsed >= STEADY_S + DOWN_S) {
    phase = 'back';
    backAt = performance.now();
    void killed.restart();
  }
  // one publish at a time, as the ingestor publishes a file: the next waits for this one's acknowledgement
  await publish(i);
}
let replicasAfterMs = NaN;
for (let t = 0; t < 60_000; t += 100) {
  if ((await cluster.currentReplicas(stream)) === 3) {
    replicasAfterMs = performance.now() - backAt;
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
const info = await jsm.streams.info(stream);

console.log(
  `\nbench:failover  ${RATE}/s awaited publishes to an R3 stream; its leader killed -9 for ${DOWN_S} s`,
);
console.log(
  `machine: 2 cores, node ${process.version}, publish timeout ${TIMEOUT_MS} ms, resend after 100 ms\n`,
);
console.log(HEADER);
console.log(row('publish -> ack, steady (baseline)', summarize(latencies.steady)));
console.log(row('publish -> ack, leader down', summarize(latencies['leader down'])));
console.log(row('publish -> ack, after it came back', summarize(latencies.back)));
console.log(`\nlongest pause between two acknowledgements   ${(longestPause / 1000).toFixed(2)} s`);
console.log(`publishes that needed more than one attempt  ${delayed} (${resent} sends again in all)`);
console.log(`publishes given up                           ${failed}`);
console.log(`stored ${info.state.messages} of ${total} (each once: ${info.state.messages === total})`);
console.log(
  `three current replicas again                 ${(replicasAfterMs / 1000).toFixed(2)} s after the server came back`,
);
console.log(
  JSON.stringify({
    bench: 'failover',
    rate: RATE,
    downSeconds: DOWN_S,
    killedAfterMs: Math.round(killedAt - start),
    steady: summarize(latencies.steady),
    leaderDown: summarize(latencies['leader down']),
    back: summarize(latencies.back),
    longestPauseMs: Math.round(longestPause),
    delayed,
    resent,
    failed,
    stored: info.state.messages,
    expected: total,
    replicasCurrentAfterMs: Math.round(replicasAfterMs),
  }),
);
await nc.close();
await cluster.stop();
