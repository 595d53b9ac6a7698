import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildStatusPayload, Envelope, OutboxMessagePayload } from '#contracts';
import { ProgressFileWriter } from '#producers';
import { NatsCluster, type NatsServer } from './nats-server.js';
import { progressUpdate } from './progress.js';
import { ResumingClient } from './resuming-client.js';
import { freePort, type ServiceName, ServiceProcess } from './service-process.js';
import { eventually, TestEnv } from './test-env.js';

/** What is killed with SIGKILL mid-run, and started again after `downMs`. */
export type ChaosFault = 'nats' | ServiceName;

export interface ChaosOptions {
  fault: ChaosFault;
  builds: number;
  /** Updates per build; the last one completes it. */
  updates: number;
  outboxFiles: number;
  /** Outbox files written per second (progress updates are spread over the same time). */
  outboxPerSecond: number;
  /** When the fault strikes, from the first write. */
  faultAtMs: number;
  downMs: number;
  /** How long everything may take to settle after the last write. */
  settleMs: number;
  /**
   * NATS as a cluster of three with STREAM_REPLICAS=3; the `nats` fault then kills the member that leads the
   * outbox stream. Default: one server.
   */
  cluster?: boolean;
  /** Gateways (default 1); SSE clients start on different ones and move to the next at each reconnect. */
  gateways?: number;
}

/** What a run counted: every figure a user would check, and what was wrong (empty when nothing). */
export interface ChaosCounts {
  fault: ChaosFault;
  outbox: {
    written: number;
    onStream: number;
    distinctOnStream: number;
    inPostgres: number;
    inOrder: boolean;
  };
  builds: { written: number; completedInRest: number; duplicateEventsOnStream: number };
  clients: {
    count: number;
    reconnects: number;
    eventsReceived: number;
    matchingTheStream: number;
    /** Clients that were served by more than one gateway during the run. */
    servedByTwoGateways: number;
  };
  /** With a cluster: each stream's replicas that are current once everything settled (the leader counts). */
  currentReplicas?: Record<string, number>;
  seconds: number;
  problems: string[];
}

/**
 * One fault run (issue 10, 9): the three services as processes on a NATS of the run's own, 20 builds writing
 * progress.json and an outbox burst, with browser-like SSE clients that resume by Last-Event-ID. Halfway, NATS
 * or one service is killed with SIGKILL and started again. Then everything is counted: each outbox file on the
 * stream once and in order, in PostgreSQL once, every event at every client once and in order, every final
 * status in REST.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosCounts> {
  const started = Date.now();
  const cluster = await NatsCluster.start(options.cluster ? 3 : 1);
  const gatewayCount = options.gateways ?? 1;
  const gatewayPorts = await Promise.all(Array.from({ length: gatewayCount }, () => freePort()));
  const env = await TestEnv.create({
    NATS_URL: cluster.url,
    STREAM_STORAGE: 'file',
    ...(options.cluster ? { STREAM_REPLICAS: '3' } : {}),
    INGEST_SCAN_INTERVAL_MS: '500',
    NATS_PUBLISH_TIMEOUT_MS: '1000',
    NATS_PUBLISH_ATTEMPTS: '2',
    LOG_LEVEL: 'info',
  });
  const bases = gatewayPorts.map((port) => `http://127.0.0.1:${port}`);
  const base = bases[0];
  /** Each service by label: `orchestrator`, `ingestor`, `gateway` (the first), `gateway-2`… */
  const services = new Map<string, ServiceProcess>();
  const healthPorts = new Map<string, number>([
    ['orchestrator', await freePort()],
    ['ingestor', await freePort()],
    ...gatewayPorts.map((port, i): [string, number] => [gatewayLabel(i), port]),
  ]);
  const start = (label: string) => {
    const name = (label.startsWith('gateway') ? 'gateway' : label) as ServiceName;
    const port = String(healthPorts.get(label));
    services.set(
      label,
      ServiceProcess.start(name, {
        ...env.processEnv(),
        HEALTH_PORT: port,
        ...(name === 'gateway' ? { GATEWAY_PORT: port } : {}),
      }),
    );
  };
  const clients: ResumingClient[] = [];
  const problems: string[] = [];
  let killed: NatsServer | undefined;
  try {
    // started at the same moment, as npm start and docker compose start them
    for (const label of healthPorts.keys()) start(label);
    for (const [label, port] of healthPorts) {
      await ready(`http://127.0.0.1:${port}`).catch((error: Error) => {
        throw new Error(`${error.message}: ${label}\n${services.get(label)?.output.slice(-3000)}`);
      });
    }

    const ids = Array.from({ length: options.builds }, (_, i) => `CHAOS-${i}`);
    // client i starts on gateway i (mod their number) and moves to the next one at each reconnect
    const spread = (path: string, i: number) =>
      bases.map((_, k) => `${bases[(i + k) % bases.length]}${path}`);
    for (const [i, id] of ids.entries()) {
      clients.push(new ResumingClient(spread(`/builds/${id}/events?lastEventId=0`, i), 1));
    }
    const all = new ResumingClient(
      spread(`/events?builds=${ids.join(',')}&lastEventId=0`, ids.length),
      ids.length,
    );
    const outboxClient = new ResumingClient(spread('/outbox/events?lastEventId=0', ids.length + 1), Infinity);
    clients.push(all, outboxClient);

    const writing = write(env, ids, options);
    await sleep(options.faultAtMs);
    if (options.fault === 'nats') {
      killed = await cluster.leaderOf(env.subjects.streamName('outbox'));
      await killed.kill();
    } else await services.get(options.fault)?.kill();
    await sleep(options.downMs);
    if (killed) await killed.restart();
    else start(options.fault);
    await writing;

    // settled: REST says every build completed, PostgreSQL holds every outbox message, every client ended
    const settle = options.settleMs;
    await eventually(
      async () => ((await completed(base, ids)) === ids.length ? true : undefined),
      settle,
      'every build completed in REST',
    ).catch((error: Error) => problems.push(error.message));
    await eventually(
      async () => ((await outboxRows(env)).length >= options.outboxFiles ? true : undefined),
      settle,
      'every outbox message in PostgreSQL',
    ).catch((error: Error) => problems.push(error.message));
    await Promise.race([Promise.all(clients.slice(0, -1).map((c) => c.done)), sleep(settle, true)]);
    await eventually(
      () => (outboxClient.ids.length >= options.outboxFiles ? true : undefined),
      settle,
      'the outbox client to get every message',
    ).catch((error: Error) => problems.push(error.message));

    // the counts
    const stream = env.subjects.streamName('outbox');
    const onStream = [
      ...(await env.storedOn(env.subjects.outbox('local', 'pipeline'), stream)),
      ...(await env.storedOn(env.subjects.outbox('local', 'system'), stream)),
    ].sort((a, b) => a.seq - b.seq);
    const contents = onStream.map(
      (m) => (JSON.parse(m.data) as Envelope<OutboxMessagePayload>).payload.content,
    );
    const expected = Array.from({ length: options.outboxFiles }, (_, n) => `message ${n}`);
    const inOrder = JSON.stringify(contents) === JSON.stringify(expected);
    if (!inOrder) problems.push(`outbox stream: ${contents.length} messages, not each once in file order`);
    const rows = await outboxRows(env);
    if (JSON.stringify(rows) !== JSON.stringify(expected)) {
      problems.push(`outbox_messages: ${rows.length} rows, not each message once in order`);
    }

    let duplicates = 0;
    let matching = 0;
    const buildSeqs: number[] = [];
    for (const [i, id] of ids.entries()) {
      const stored = await env.storedOn(env.subjects.buildStatus(id));
      buildSeqs.push(...stored.map((m) => m.seq));
      const turns = stored.map((m) => (JSON.parse(m.data) as Envelope<BuildStatusPayload>).payload.turn);
      duplicates += turns.length - new Set(turns).size;
      if (JSON.stringify(turns) !== JSON.stringify([...turns].sort((a, b) => (a ?? 0) - (b ?? 0)))) {
        problems.push(`${id}: turns on the stream out of order: ${turns.join(',')}`);
      }
      const client = clients[i];
      if (
        client &&
        same(
          client.ids,
          stored.map((m) => m.seq),
          `client of ${id}`,
          problems,
        )
      )
        matching++;
    }
    if (duplicates > 0) problems.push(`${duplicates} build events stored twice`);
    if (
      same(
        all.ids,
        buildSeqs.sort((a, b) => a - b),
        'the multi-build client',
        problems,
      )
    )
      matching++;
    if (
      same(
        outboxClient.ids,
        onStream.map((m) => m.seq),
        'the outbox client',
        problems,
      )
    )
      matching++;
    const completedInRest = await completed(base, ids);
    // what an operator opens on any gateway: the board with the queues
    for (const url of bases) {
      const res = await fetch(`${url}/admin/queues/api/queues`).catch(() => undefined);
      const names = res?.ok
        ? ((await res.json()) as { queues: { name: string }[] }).queues.map((q) => q.name)
        : [];
      if (!names.includes('triggers'))
        problems.push(`the board of ${url} answered ${res?.status ?? 'nothing'} without the triggers queue`);
    }
    let currentReplicas: Record<string, number> | undefined;
    if (options.cluster) {
      // the member that came back catches up: every stream has its three replicas current again
      const streams = (['builds', 'outbox', 'triggers'] as const).map((role) =>
        env.subjects.streamName(role),
      );
      currentReplicas = await eventually(
        async () => {
          const counts = Object.fromEntries(
            await Promise.all(
              streams.map(async (name) => [name, await cluster.currentReplicas(name)] as const),
            ),
          );
          return Object.values(counts).every((n) => n === 3) ? counts : undefined;
        },
        settle,
        'three current replicas of every stream',
      ).catch(async (error: Error) => {
        problems.push(error.message);
        return Object.fromEntries(
          await Promise.all(
            streams.map(async (name) => [name, await cluster.currentReplicas(name)] as const),
          ),
        );
      });
    }
    if (problems.length > 0) {
      // what the services said, to tell a stalled reader from a dead process
      for (const [name, service] of services) {
        const warnings = service.output
          .split('\n')
          .filter((line) => /"level":(40|50|60)|Error|exited/.test(line))
          .slice(-15);
        problems.push(
          `${name} (${service.running ? 'running' : 'not running'}), last warnings:\n${warnings.join('\n')}`,
        );
      }
    }

    return {
      fault: options.fault,
      outbox: {
        written: options.outboxFiles,
        onStream: contents.length,
        distinctOnStream: new Set(contents).size,
        inPostgres: rows.length,
        inOrder,
      },
      builds: { written: ids.length, completedInRest, duplicateEventsOnStream: duplicates },
      clients: {
        count: clients.length,
        reconnects: clients.reduce((sum, c) => sum + c.reconnects, 0),
        eventsReceived: clients.reduce((sum, c) => sum + c.ids.length, 0),
        matchingTheStream: matching,
        servedByTwoGateways: clients.filter((c) => c.served.filter((n) => n > 0).length > 1).length,
      },
      ...(currentReplicas ? { currentReplicas } : {}),
      seconds: Math.round((Date.now() - started) / 1000),
      problems,
    };
  } finally {
    for (const client of clients) client.close();
    for (const service of services.values()) await service.stop();
    await killed?.restart().catch(() => undefined); // running again for the cleanup, if it was down
    await env.cleanup().catch(() => undefined);
    await cluster.stop();
  }
}

function gatewayLabel(i: number): string {
  return i === 0 ? 'gateway' : `gateway-${i + 1}`;
}

/** Progress updates and outbox files, spread over the same span of time. */
async function write(env: TestEnv, ids: string[], options: ChaosOptions): Promise<void> {
  const outbox = join(env.root, 'runtime', 'outbox');
  await mkdir(outbox, { recursive: true });
  const spanMs = (options.outboxFiles / options.outboxPerSecond) * 1000;
  const writers = ids.map((id) => new ProgressFileWriter(env.root, id));
  const steps: (() => Promise<void>)[] = [];
  for (let n = 0; n < options.outboxFiles; n++) {
    steps.push(async () => {
      const name = `${1_800_000_000_000 + n}_pipeline.md`;
      await writeFile(join(outbox, `.tmp.${n}`), `message ${n}`);
      await rename(join(outbox, `.tmp.${n}`), join(outbox, name));
    });
  }
  const updates: (() => Promise<void>)[] = [];
  for (let turn = 1; turn <= options.updates; turn++) {
    for (const writer of writers) {
      const status = turn === options.updates ? 'completed' : 'running';
      updates.push(async () => {
        await writer.write(progressUpdate(turn, { status }));
      });
    }
  }
  // interleave: both kinds of writes go on through the whole span
  const all: (() => Promise<void>)[] = [];
  const ratio = updates.length / Math.max(1, steps.length);
  let u = 0;
  for (const [n, step] of steps.entries()) {
    all.push(step);
    while (u < Math.round((n + 1) * ratio)) all.push(updates[u++]);
  }
  while (u < updates.length) all.push(updates[u++]);
  const interval = spanMs / all.length;
  const t0 = Date.now();
  for (const [n, step] of all.entries()) {
    await step();
    const wait = t0 + (n + 1) * interval - Date.now();
    if (wait > 0) await sleep(wait);
  }
}

async function ready(base: string): Promise<void> {
  await eventually(
    async () => ((await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined),
    30_000,
    'ready',
  );
}

async function completed(base: string, ids: string[]): Promise<number> {
  let count = 0;
  for (const id of ids) {
    const res = await fetch(`${base}/builds/${id}`).catch(() => undefined);
    if (res?.status === 200 && ((await res.json()) as { status?: string }).status === 'completed') count++;
  }
  return count;
}

async function outboxRows(env: TestEnv): Promise<string[]> {
  const rows = await env
    .query<{ content: string }>('SELECT content FROM outbox_messages ORDER BY id')
    .catch(() => []);
  return rows.map((r) => r.content);
}

/** True when a client got exactly the stream's events (sequence numbers), once each and in order. */
function same(got: number[], expected: number[], who: string, problems: string[]): boolean {
  if (JSON.stringify(got) === JSON.stringify(expected)) return true;
  const dupes = got.length - new Set(got).size;
  const missing = expected.filter((seq) => !got.includes(seq));
  const extra = got.filter((seq) => !expected.includes(seq));
  problems.push(
    `${who}: ${got.length} events for ${expected.length} on the stream (${dupes} twice; ` +
      `${missing.length} missing: ${missing.slice(0, 10).join(',')}; ` +
      `${extra.length} not on it: ${extra.slice(0, 10).join(',')})`,
  );
  return false;
}

function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((r) => {
    const timer = setTimeout(r, ms);
    if (unref) timer.unref();
  });
}
