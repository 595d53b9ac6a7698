import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSettings, SettingsError, settingNames } from './settings.js';

describe('settings', () => {
  it('has the defaults of SPEC 7', () => {
    const s = loadSettings({}, '/repo');
    assert.deepEqual(s.nats.servers, ['nats://127.0.0.1:4222']);
    assert.equal(s.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(s.database.url, 'postgres://postgres@127.0.0.1:5432/guardkit');
    assert.equal(s.gateway.host, '127.0.0.1');
    assert.equal(s.gateway.port, 3000);
    assert.equal(s.gateway.sseHeartbeatMs, 15_000);
    assert.deepEqual(s.ingest.progressRoots, ['/repo']);
    assert.equal(s.ingest.runtimeDir, '/repo/runtime');
    assert.equal(s.streams.maxAgeSeconds, 7 * 24 * 3600);
    assert.equal(s.streams.maxMsgsPerSubject, 10_000);
    assert.equal(s.streams.duplicateWindowSeconds, 120);
    assert.equal(s.streams.replicas, 1);
    assert.equal(s.nats.namespace, '');
  });

  it('reads lists and numbers', () => {
    const s = loadSettings(
      {
        NATS_URL: 'nats://a:4222, nats://b:4222',
        GUARDKIT_PROGRESS_ROOTS: 'one,/abs/two',
        GATEWAY_PORT: '8080',
        STREAM_REPLICAS: '3',
      },
      '/repo',
    );
    assert.deepEqual(s.nats.servers, ['nats://a:4222', 'nats://b:4222']);
    assert.deepEqual(s.ingest.progressRoots, ['/repo/one', '/abs/two']);
    assert.equal(s.gateway.port, 8080);
    assert.equal(s.streams.replicas, 3);
  });

  const bad: [string, string][] = [
    ['GATEWAY_PORT', 'abc'],
    ['GATEWAY_PORT', '70000'],
    ['NATS_URL', 'http://localhost:4222'],
    ['REDIS_URL', 'localhost:6379'],
    ['DATABASE_URL', 'postgres://localhost'],
    ['STREAM_REPLICAS', '2'],
    ['STREAM_STORAGE', 'disk'],
    ['SSE_HEARTBEAT_MS', '10'],
    ['BUS_NAMESPACE', 'a.b'],
    ['LOG_LEVEL', 'loud'],
    ['INGEST_SCAN_INTERVAL_MS', '1.5'],
    ['OUTBOX_AFTER_INGEST', 'archive'],
    ['OUTBOX_MAX_CHARS', '0'],
  ];
  for (const [name, value] of bad) {
    it(`stops on ${name}=${value}, naming the variable`, () => {
      assert.throws(
        () => loadSettings({ [name]: value }),
        (error: unknown) =>
          error instanceof SettingsError && error.message.includes(`${name}=${JSON.stringify(value)}`),
      );
    });
  }

  it('lists every bad variable at once', () => {
    assert.throws(
      () => loadSettings({ GATEWAY_PORT: 'x', STREAM_STORAGE: 'disk' }),
      (error: unknown) =>
        error instanceof SettingsError &&
        /GATEWAY_PORT/.test(error.message) &&
        /STREAM_STORAGE/.test(error.message),
    );
  });

  it('reads the outbox sources: local first, then the named ones', () => {
    const s = loadSettings(
      { AUTOAPPDEV_RUNTIME_DIR: 'rt', GUARDKIT_OUTBOX_SOURCES: 'web=/srv/web/runtime, cli=../cli' },
      '/repo',
    );
    assert.deepEqual(s.ingest.outboxSources, [
      { name: 'local', runtimeDir: '/repo/rt' },
      { name: 'web', runtimeDir: '/srv/web/runtime' },
      { name: 'cli', runtimeDir: '/cli' },
    ]);
    assert.equal(s.ingest.outboxAfterIngest, 'move');
    assert.equal(s.ingest.outboxMaxChars, 10_000);
  });

  for (const value of ['web', 'a.b=/x', '=/x', 'local=/x', 'w=/a,w=/b']) {
    it(`refuses GUARDKIT_OUTBOX_SOURCES=${value}`, () => {
      assert.throws(() => loadSettings({ GUARDKIT_OUTBOX_SOURCES: value }), /GUARDKIT_OUTBOX_SOURCES/);
    });
  }

  it('writes debug lines only at LOG_LEVEL debug or trace', () => {
    assert.equal(loadSettings({}, '/repo').log.debug, false);
    assert.equal(loadSettings({ LOG_LEVEL: 'info' }, '/repo').log.debug, false);
    assert.equal(loadSettings({ LOG_LEVEL: 'debug' }, '/repo').log.debug, true);
    assert.equal(loadSettings({ LOG_LEVEL: 'trace' }, '/repo').log.debug, true);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadSettings({ GATEWAY_PORT: '' }).gateway.port, 3000);
  });
});

describe('trigger settings', () => {
  it('has the thresholds of SPEC 5 by default', () => {
    const t = loadSettings({}, '/repo').triggers;
    assert.equal(t.payloadMaxBytes, 8192);
    assert.equal(t.quietWindowMs, 20_000);
    assert.equal(t.deferRecheckMs, 5000);
    assert.equal(t.deferMaxMs, 60_000);
    assert.equal(t.rateLimitPerMinute, 10);
    assert.equal(t.resumeTries, 2);
    assert.equal(t.autoBlockTurns, 20);
    assert.equal(t.autoBlockIdentical, 3);
    assert.equal(t.crashLoopFailures, 3);
    assert.equal(t.crashLoopWindowMs, 15 * 60_000);
    assert.equal(t.sessionStaleMs, 12 * 3_600_000);
    assert.equal(t.resumeCommand, '');
    assert.equal(loadSettings({}, '/repo').queues.prefix, 'bull');
  });

  it('refuses bad values, naming each', () => {
    assert.throws(
      () =>
        loadSettings({
          TRIGGER_ATTEMPTS: '0',
          TRIGGER_BACKOFF_JITTER: '2',
          QUEUE_PREFIX: 'a:b',
          TMUX_SOCKET: '../x',
          TRIGGER_BACKOFF_MS: '5000',
          TRIGGER_BACKOFF_MAX_MS: '1000',
        }),
      (error: unknown) =>
        error instanceof SettingsError &&
        [
          'TRIGGER_ATTEMPTS',
          'TRIGGER_BACKOFF_JITTER',
          'QUEUE_PREFIX',
          'TMUX_SOCKET',
          'TRIGGER_BACKOFF_MAX_MS',
        ].every((name) => error.message.includes(name)),
    );
  });
});

describe('the settings documentation', () => {
  it('lists every setting in the README', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../../../README.md', import.meta.url), 'utf8');
    const missing = settingNames().filter((name) => !readme.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });
});
