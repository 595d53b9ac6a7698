import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type SseCloseReason, SseConnection } from './sse-connection.js';

const options = { heartbeatMs: 60_000, retryMs: 1000, queueLimit: 10, conflateAfterMs: 2000 };

/** SseConnection on a real HTTP server and socket. */
describe('SseConnection', () => {
  let server: Server;
  let port: number;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;

  before(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  /** The whole response body of one request to the test server. */
  const readAll = () =>
    new Promise<string>((resolve) => {
      request(`http://127.0.0.1:${port}/`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      }).end();
    });

  it('releases at once when the client left before the stream was set up', async () => {
    const released = new Promise<SseCloseReason>((resolve) => {
      handler = (req, res) => {
        // Setting up (creating a consumer) takes a moment; the client leaves meanwhile.
        req.socket.once('close', () => {
          const sse = new SseConnection(res, options);
          sse.onClose(resolve);
        });
      };
    });
    const req = request(`http://127.0.0.1:${port}/`);
    req.on('error', () => undefined);
    req.end();
    setTimeout(() => req.destroy(), 20);
    const never = new Promise<string>((resolve) => setTimeout(() => resolve('never released'), 2000).unref());
    assert.equal(await Promise.race([released, never]), 'client');
  });

  it('writes the retry hint, then events with id, event and one data line per line', async () => {
    handler = (_req, res) => {
      const sse = new SseConnection(res, options);
      sse.send({ id: 7, event: 'status', data: '{"a":1}' });
      sse.send({ event: 'end', data: 'line one\nline two' });
      sse.end();
    };
    const body = await readAll();
    assert.match(body, /^retry: \d+\n\n/);
    const retry = Number(/^retry: (\d+)/.exec(body)?.[1]);
    assert.ok(retry >= 1000 && retry < 1500, 'the hint has up to 50% jitter');
    assert.ok(
      body.endsWith('id: 7\nevent: status\ndata: {"a":1}\n\nevent: end\ndata: line one\ndata: line two\n\n'),
      body,
    );
  });

  it('gives a client that reads at full speed every event of a burst, though its socket buffer fills', async () => {
    const received = async (conflateAfterMs: number) => {
      handler = (_req, res) => {
        const sse = new SseConnection(res, { ...options, queueLimit: 5000, conflateAfterMs });
        const data = 'x'.repeat(2000);
        for (let n = 1; n <= 1000; n++) sse.send({ id: n, event: 'status', data, conflationKey: 'B' });
        sse.end();
      };
      const body = await readAll();
      return body.match(/^id: /gm)?.length ?? 0;
    };
    assert.equal(await received(2000), 1000, 'a replay is not conflated for a reader that keeps up');
    assert.ok((await received(0)) < 1000, 'conflating at once would have dropped some (the test can fail)');
  });
});
