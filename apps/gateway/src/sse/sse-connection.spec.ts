import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type SseCloseReason, SseConnection, SseFrame } from './sse-connection.js';

const options = { retryMs: 1000, queueLimit: 10, queueBytes: 1 << 30, conflateAfterMs: 2000 };

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
    let arrived!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<SseCloseReason>((resolve) => {
      handler = (req, res) => {
        // Setting up (creating a consumer) takes a moment; the client leaves meanwhile.
        req.socket.once('close', () => {
          const sse = new SseConnection(res, options);
          sse.onClose(resolve);
        });
        arrived();
      };
    });
    const req = request(`http://127.0.0.1:${port}/`);
    req.on('error', () => undefined);
    req.end();
    // leaves once the server has the request (a fixed delay lost the race on a busy machine: CI, once)
    await reached;
    req.destroy();
    const never = new Promise<string>((resolve) => setTimeout(() => resolve('never released'), 2000).unref());
    assert.equal(await Promise.race([released, never]), 'client');
  });

  it('writes the retry hint, then events with id, event and one data line per line', async () => {
    handler = (_req, res) => {
      const sse = new SseConnection(res, options);
      sse.send(new SseFrame('status', '{"a":1}', 7));
      sse.send(new SseFrame('end', 'line one\r\nline two\nline three'));
      sse.end();
    };
    const body = await readAll();
    assert.match(body, /^retry: \d+\n\n/);
    const retry = Number(/^retry: (\d+)/.exec(body)?.[1]);
    assert.ok(retry >= 1000 && retry < 1500, 'the hint has up to 50% jitter');
    assert.ok(
      body.endsWith(
        'id: 7\nevent: status\ndata: {"a":1}\n\nevent: end\ndata: line one\ndata: line two\ndata: line three\n\n',
      ),
      body,
    );
  });

  it('gives a client that reads at full speed every event of a burst, though its socket buffer fills', async () => {
    const received = async (conflateAfterMs: number) => {
      handler = (_req, res) => {
        const sse = new SseConnection(res, { ...options, queueLimit: 5000, conflateAfterMs });
        const data = 'x'.repeat(2000);
        for (let n = 1; n <= 1000; n++) sse.send(new SseFrame('status', data, n, 'B'));
        sse.end();
      };
      const body = await readAll();
      return body.match(/^id: /gm)?.length ?? 0;
    };
    assert.equal(await received(2000), 1000, 'a replay is not conflated for a reader that keeps up');
    assert.ok((await received(0)) < 1000, 'conflating at once would have dropped some (the test can fail)');
  });

  /** Opens a request and holds the response unread, so the server's writes back up; `read()` drains it. */
  const stalledClient = () =>
    new Promise<{ read: () => Promise<string> }>((resolve) => {
      request(`http://127.0.0.1:${port}/`, (res) => {
        res.pause();
        resolve({
          read: () =>
            new Promise<string>((done) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => (text += chunk));
              res.on('end', () => done(text));
              res.on('close', () => done(text));
              res.resume();
            }),
        });
      })
        .on('error', () => undefined)
        .end();
    });

  it('disconnects a client whose waiting bytes pass the bound, though few events wait', async () => {
    const closed = new Promise<SseCloseReason>((resolve) => {
      handler = (_req, res) => {
        const sse = new SseConnection(res, { ...options, queueLimit: 1000, queueBytes: 2_000_000 });
        sse.onClose(resolve);
        const big = 'x'.repeat(500_000);
        let n = 0;
        const timer = setInterval(() => {
          sse.send(new SseFrame('status', big, ++n));
          if (sse.isClosed || n > 100) clearInterval(timer);
        }, 5);
      };
    });
    await stalledClient();
    assert.equal(await closed, 'overflow');
  });

  it('never conflates a frame without a key (a reset) away, and reports what waits', async () => {
    let lagWhileBlocked = { events: 0, bytes: 0, oldestMs: 0 };
    handler = (_req, res) => {
      const sse = new SseConnection(res, { ...options, queueLimit: 1000, conflateAfterMs: 0 });
      const big = 'x'.repeat(1_000_000);
      let n = 0;
      while (sse.lag(Date.now()).events === 0 && n < 50) sse.send(new SseFrame('status', big, ++n, 'B'));
      sse.send(new SseFrame('reset', '{"r":1}', ++n)); // queued behind the blocked socket
      for (let k = 0; k < 5; k++) sse.send(new SseFrame('status', '{"s":1}', ++n, 'B'));
      lagWhileBlocked = sse.lag(Date.now());
      sse.end();
    };
    const client = await stalledClient();
    const body = await client.read();
    assert.match(body, /event: reset\ndata: \{"r":1\}/, 'the reset arrived');
    assert.equal(body.match(/data: \{"s":1\}/g)?.length, 1, 'the statuses after it were conflated to one');
    assert.ok(lagWhileBlocked.events >= 2 && lagWhileBlocked.bytes > 0, JSON.stringify(lagWhileBlocked));
  });
});
