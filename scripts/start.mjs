// `npm start`: the three services against NATS, Redis and PostgreSQL on localhost (or the URLs in the
// environment), each line prefixed by its service. Ctrl-C stops all three gracefully.
import { createServer } from 'node:net';
import concurrently from 'concurrently';

const host = process.env.GATEWAY_HOST ?? '127.0.0.1';
const port = process.env.GATEWAY_PORT ?? '3000';
// pretty on a terminal, JSON lines when the output goes to a file or another program
const env = { LOG_FORMAT: process.env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') };

/** A loopback port nobody listens on now: the orchestrator's and ingestor's probes, so start can wait for them. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: free } = server.address();
      server.close(() => resolve(free));
    });
  });
}

const probes = {
  orchestrator: process.env.HEALTH_PORT ?? String(await freePort()),
  ingestor: String(await freePort()),
  gateway: port,
};

const { result } = concurrently(
  [
    {
      name: 'orchestrator',
      command: 'node dist/apps/orchestrator/src/main.js',
      env: { ...env, HEALTH_PORT: probes.orchestrator },
      prefixColor: 'magenta',
    },
    {
      name: 'ingestor',
      command: 'node dist/apps/ingestor/src/main.js',
      env: { ...env, HEALTH_PORT: probes.ingestor },
      prefixColor: 'cyan',
    },
    { name: 'gateway', command: 'node dist/apps/gateway/src/main.js', env, prefixColor: 'green' },
  ],
  { killOthersOn: ['failure'], killSignal: 'SIGTERM', prefix: '{name}', padPrefix: true },
);
// concurrently forwards Ctrl-C to the services; they drain and exit by the signal, which is a clean stop.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => (stopping = true));

/** Waits until every service answers /readyz, then says where to look; says which one is late otherwise. */
async function announceWhenReady() {
  const ready = async (probe) =>
    (await fetch(`http://127.0.0.1:${probe}/readyz`).catch(() => undefined))?.ok === true;
  const deadline = Date.now() + 60_000;
  let late = Object.keys(probes);
  while (late.length > 0 && !stopping) {
    const answers = await Promise.all(late.map((name) => ready(probes[name])));
    late = late.filter((_, i) => !answers[i]);
    if (late.length === 0) break;
    if (Date.now() > deadline) {
      process.stdout.write(
        `\nguardkit-stream: not ready after 60 s: ${late.join(', ')} (see its lines above)\n\n`,
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (stopping) return;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  process.stdout.write(
    `\nguardkit-stream ready: dashboard at ${url}/ (Ctrl-C to stop)\n` +
      `  play a build:  npm run demo -- TASK-DEMO-001\n` +
      `  watch it:      npx guardkit-stream watch TASK-DEMO-001${url === 'http://127.0.0.1:3000' ? '' : ` --url ${url}`}\n` +
      `  or:            curl -N ${url}/builds/TASK-DEMO-001/events\n\n`,
  );
}
void announceWhenReady();
result.then(
  () => process.exit(0),
  () => process.exit(stopping ? 0 : 1),
);
