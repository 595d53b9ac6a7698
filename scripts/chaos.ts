/**
 * `npm run chaos`: the fault runs of test/integration/chaos.test.ts, longer (issue 10, 9). Each run kills NATS
 * or one service with SIGKILL mid-load and starts it again, then counts what arrived where. Prints a table;
 * exits 1 if anything was lost or doubled. Needs the machine's PostgreSQL and Redis, and `nats-server`.
 *   npm run chaos [-- --faults nats,ingestor --down 10000 --files 1000 --cluster --gateways 2]
 * `--cluster`: NATS as three servers with STREAM_REPLICAS=3 (the `nats` fault kills the outbox stream's leader);
 * `--gateways N`: N gateways, SSE clients moving to the next one at each reconnect.
 */
import { type ChaosCounts, type ChaosFault, runChaos } from '#test-support';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

const faults = option('faults', 'nats,ingestor,orchestrator,gateway').split(',') as ChaosFault[];
const downMs = Number(option('down', '10000'));
const files = Number(option('files', '1000'));
const cluster = process.argv.includes('--cluster');
const gateways = Number(option('gateways', '1'));
const results: ChaosCounts[] = [];
for (const fault of faults) {
  process.stdout.write(`${fault}: killed -9 at 5 s, back ${downMs / 1000} s later … `);
  const counts = await runChaos({
    fault,
    builds: 20,
    updates: 20,
    outboxFiles: files,
    outboxPerSecond: 50,
    faultAtMs: 5000,
    downMs,
    settleMs: 60_000,
    cluster,
    gateways,
  });
  results.push(counts);
  process.stdout.write(counts.problems.length === 0 ? 'nothing lost, nothing twice\n' : 'PROBLEMS\n');
}

console.log(
  '\n| fault | outbox files | on the stream (distinct) | in PostgreSQL | in order | builds completed in REST | build events stored twice | SSE clients matching the stream | reconnects | clients served by two gateways | current replicas after | seconds |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const c of results) {
  console.log(
    `| ${c.fault} | ${c.outbox.written} | ${c.outbox.onStream} (${c.outbox.distinctOnStream}) | ${c.outbox.inPostgres} | ` +
      `${c.outbox.inOrder ? 'yes' : 'NO'} | ${c.builds.completedInRest}/${c.builds.written} | ` +
      `${c.builds.duplicateEventsOnStream} | ${c.clients.matchingTheStream}/${c.clients.count} | ${c.clients.reconnects} | ` +
      `${c.clients.servedByTwoGateways} | ${c.currentReplicas ? Object.values(c.currentReplicas).join(', ') : '-'} | ${c.seconds} |`,
  );
}
const problems = results.flatMap((c) => c.problems.map((p) => `${c.fault}: ${p}`));
for (const problem of problems) console.log(`- ${problem}`);
process.exit(problems.length === 0 ? 0 : 1);
