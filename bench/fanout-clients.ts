/**
 * The clients of `bench:fanout`, in a process of their own so their work does not count against the server:
 * N SSE connections spread over the builds, each noting when an event of a round arrives. Driven over IPC:
 * `open` → `{opened, connectMs}`, `round` → `{latencies}` once every client got it, `close` → `{closed}`.
 */
import { Agent, request } from 'node:http';

interface Command {
  type: 'open' | 'round' | 'close';
  baseUrl?: string;
  clients?: number;
  builds?: number;
  round?: number;
}

const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
const sockets: { destroy: () => void }[] = [];
/** When each client got each round's event, by round: `sent_at` read from the data without parsing JSON. */
let expected = 0;
let current = -1;
let latencies: number[] = [];
let onRoundDone: (() => void) | undefined;

const now = () => performance.timeOrigin + performance.now();

function open(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`${url}: ${res.statusCode}`));
        return;
      }
      sockets.push(res);
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = now();
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const round = /"bench_round":(\d+)/.exec(block);
          const sent = /"sent_at":([\d.]+)/.exec(block);
          if (!round || !sent || Number(round[1]) !== current) continue;
          latencies.push(at - Number(sent[1]));
          if (latencies.length === expected) onRoundDone?.();
        }
      });
      resolve();
    });
    req.on('error', reject);
    req.end();
  });
}

// the benchmark that forked it is gone (interrupted, killed): do not outlive it
process.on('disconnect', () => process.exit(0));
process.on('message', (command: Command) => {
  void (async () => {
    if (command.type === 'open') {
      const n = command.clients ?? 0;
      const start = performance.now();
      const queue = Array.from({ length: n }, (_, i) => i);
      // At most 500 handshakes in flight, as a crowd of browsers arriving would be.
      await Promise.all(
        Array.from({ length: 500 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift())
            await open(`${command.baseUrl}/builds/FAN-${i % (command.builds ?? 1)}/events`);
        }),
      );
      process.send?.({ type: 'opened', connectMs: performance.now() - start, opened: sockets.length });
    } else if (command.type === 'round') {
      current = command.round ?? 0;
      expected = sockets.length;
      latencies = [];
      const done = new Promise<void>((resolve) => (onRoundDone = resolve));
      process.send?.({ type: 'armed' });
      await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
      process.send?.({ type: 'round', latencies });
    } else {
      for (const socket of sockets.splice(0)) socket.destroy();
      process.send?.({ type: 'closed' });
    }
  })();
});
