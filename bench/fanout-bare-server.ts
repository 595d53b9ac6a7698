/**
 * The baseline of `bench:fanout`: the least an SSE fan-out can do. A node:http server and one core NATS
 * subscription over every build's status subject; each message is written, as one shared buffer, to the
 * clients of its build. No JetStream, no ids, no resume, no framework. Run as its own process by the bench.
 */
import { createServer, type ServerResponse } from 'node:http';
import { connect } from '@nats-io/transport-node';
import { Subjects } from '#contracts';

const [natsUrl = '', namespace = '', port = '0'] = process.argv.slice(2);
const subjects = new Subjects(namespace);
const nc = await connect({ servers: natsUrl });
const clients = new Map<string, Set<ServerResponse>>();

nc.subscribe(subjects.allBuildStatus(), {
  callback: (_error, msg) => {
    const listeners = clients.get(subjects.buildIdOf(msg.subject) ?? '');
    if (!listeners) return;
    const frame = Buffer.from(`event: status\ndata: ${msg.string()}\n\n`);
    for (const res of listeners) res.write(frame);
  },
});

const server = createServer((req, res) => {
  const id = /^\/builds\/([^/]+)\/events/.exec(req.url ?? '')?.[1];
  if (!id) {
    res.statusCode = req.url === '/readyz' ? 200 : 404;
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.write('retry: 3000\n\n');
  let set = clients.get(id);
  if (!set) clients.set(id, (set = new Set()));
  set.add(res);
  res.on('close', () => set.delete(res));
});
server.listen(Number(port), '127.0.0.1', () => process.send?.('listening'));
const stop = () => {
  server.closeAllConnections();
  server.close();
  void nc.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
// the benchmark that forked it is gone (interrupted, killed): do not outlive it
process.on('disconnect', stop);
