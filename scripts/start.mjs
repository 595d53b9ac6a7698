// `npm start`: the three services against NATS, Redis and PostgreSQL on localhost (or the URLs in the
// environment), each line prefixed by its service. Ctrl-C stops all three gracefully.
import concurrently from 'concurrently';

const host = process.env.GATEWAY_HOST ?? '127.0.0.1';
const port = process.env.GATEWAY_PORT ?? '3000';
// pretty on a terminal, JSON lines when the output goes to a file or another program
const env = { LOG_FORMAT: process.env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') };

const { result } = concurrently(
  [
    { name: 'orchestrator', command: 'node dist/apps/orchestrator/src/main.js', env, prefixColor: 'magenta' },
    { name: 'ingestor', command: 'node dist/apps/ingestor/src/main.js', env, prefixColor: 'cyan' },
    { name: 'gateway', command: 'node dist/apps/gateway/src/main.js', env, prefixColor: 'green' },
  ],
  { killOthersOn: ['failure'], killSignal: 'SIGTERM', prefix: '{name}', padPrefix: true },
);
// concurrently forwards Ctrl-C to the services; they drain and exit by the signal, which is a clean stop.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => (stopping = true));

process.stdout.write(`\nguardkit-stream starting: dashboard at http://${host}:${port}/ (Ctrl-C to stop)\n\n`);
result.then(
  () => process.exit(0),
  () => process.exit(stopping ? 0 : 1),
);
