import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { watchExitCode } from './commands/watch.js';
import { GatewayClient, type StreamState } from './gateway-client.js';

/** A stand-in gateway that answers each stream request with the next scripted answer. */
function standIn(answers: ((req: IncomingMessage, res: import('node:http').ServerResponse) => void)[]) {
  const requests: { url: string; lastEventId?: string; authorization?: string }[] = [];
  const server = createServer((req, res) => {
    requests.push({
      url: req.url ?? '',
      lastEventId: req.headers['last-event-id'] as string | undefined,
      authorization: req.headers.authorization,
    });
    (answers[requests.length - 1] ?? answers.at(-1)!)(req, res);
  });
  return { server, requests };
}

const sse = (res: import('node:http').ServerResponse, body: string, end = true) => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.write(body);
  if (end) res.end();
};

describe('the CLI`s followed streams', () => {
  let server: Server;
  let requests: { url: string; lastEventId?: string; authorization?: string }[];
  let base: string;

  before(async () => {
    ({ server, requests } = standIn([
      // 1: two events, then the connection drops (EventSource comes back by itself with Last-Event-ID)
      (_req, res) =>
        sse(res, 'retry: 50\nid: 5\nevent: status\ndata: {"n":5}\n\nid: 6\nevent: status\ndata: {"n":6}\n\n'),
      // 2: a proxy's 502 while the gateway restarts: EventSource gives up; the stream opens again by itself
      (_req, res) => {
        res.writeHead(502);
        res.end();
      },
      // 3: from where it was: one more event and the end
      (_req, res) => sse(res, 'id: 7\nevent: status\ndata: {"n":7}\n\nevent: end\ndata: {}\n\n', false),
    ]));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it(
    'resume after a dropped connection and after an error answer, from the last id, with the token, once each',
    { timeout: 10_000 },
    async () => {
      const seen: string[] = [];
      const states: StreamState[] = [];
      await new Promise<void>((resolve) => {
        const stream = new GatewayClient(base, 'a-token').stream(
          '/events?builds=x',
          (event, data) => {
            seen.push(`${event} ${data}`);
            if (event === 'end') {
              stream.close();
              resolve();
            }
          },
          ['status', 'end'],
        );
        stream.onState = (state) => states.push(state);
      });
      assert.deepEqual(seen, ['status {"n":5}', 'status {"n":6}', 'status {"n":7}', 'end {}']);
      assert.equal(requests[1].lastEventId, '6', 'EventSource resumed with Last-Event-ID');
      assert.match(requests[2].url, /lastEventId=6/, 'the reopened stream starts after the last id handled');
      assert.ok(requests.every((r) => r.authorization === 'Bearer a-token'));
      assert.ok(states.includes('reconnecting') && states.at(-1) === 'live');
    },
  );

  it('fails at once on 401 (a token is needed), naming the way to pass one', async () => {
    const refusing = createServer((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (refusing.address() as { port: number }).port;
      const error = await new Promise<Error>((resolve) => {
        const stream = new GatewayClient(`http://127.0.0.1:${port}`).stream('/events?builds=x', () => {}, [
          'status',
        ]);
        stream.onFailed = resolve;
      });
      assert.match(error.message, /401.*--token or GUARDKIT_TOKEN/);
    } finally {
      refusing.close();
    }
  });
});

describe('watch exit codes', () => {
  it('0 when all completed, 1 when one failed, 3 when one was cancelled and none failed', () => {
    assert.equal(watchExitCode(['completed', 'completed']), 0);
    assert.equal(watchExitCode(['completed', 'failed', 'cancelled']), 1);
    assert.equal(watchExitCode(['completed', 'cancelled']), 3);
  });
});
