import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { pinoHttp } from 'pino-http';
import { loggerParams } from './logging.js';
import { loadSettings } from './settings.js';

/** The request log lines one request makes, through pino-http configured as every service configures it. */
async function logLinesOf(
  level: string,
  headers: Record<string, string>,
): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const destination = {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  };
  const settings = loadSettings({ LOG_LEVEL: level, LOG_FORMAT: 'json' });
  const params = loggerParams({ ...settings, log: { ...settings.log, destination } }, 'test');
  const [options, stream] = params.pinoHttp as [object, typeof destination];
  const logger = pinoHttp(options, stream as never);
  const server: Server = createServer((req, res) => {
    logger(req, res);
    res.setHeader('Set-Cookie', 'session=secret');
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    await (await fetch(`http://127.0.0.1:${port}/builds?limit=2`, { headers })).text();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    server.closeAllConnections();
    server.close();
  }
  return lines;
}

describe('request logs', () => {
  const credentials = {
    Authorization: 'Bearer secret-token',
    Cookie: 'session=secret',
    'X-Request-Id': 'req-1',
  };

  it('are one short line at INFO: method, path, status, time, request id; no headers', async () => {
    const [line, ...more] = await logLinesOf('info', credentials);
    assert.equal(more.length, 0);
    assert.match(String(line['msg']), /^GET \/builds\?limit=2 200 \d+ms$/);
    assert.equal(line['level'], 30);
    assert.equal(line['correlation_id'], 'req-1');
    assert.deepEqual(line['req'], { id: 'req-1', method: 'GET', url: '/builds?limit=2' });
    assert.deepEqual(line['res'], { statusCode: 200 });
    assert.doesNotMatch(JSON.stringify(line), /secret/);
  });

  it('carry headers at DEBUG, never credentials', async () => {
    const [line] = await logLinesOf('debug', credentials);
    const text = JSON.stringify(line);
    assert.match(text, /"x-request-id":"req-1"/, 'headers are there');
    assert.doesNotMatch(text, /secret/, 'Authorization, Cookie and Set-Cookie are not');
    assert.match(text, /"authorization":"\[redacted\]"/);
  });
});
