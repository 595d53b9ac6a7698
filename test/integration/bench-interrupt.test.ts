import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { eventually, processAlive } from '#test-support';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The services a process started (its children running dist/apps), with their environment. */
function servicesOf(parent: number): { pid: number; env: Map<string, string> }[] {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== parent) continue;
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('dist/apps/')) continue;
      const env = new Map(
        readFileSync(`/proc/${entry}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
      );
      found.push({ pid: Number(entry), env });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A benchmark stopped half-way (Ctrl-C, `timeout`) must not leave its services running or its data behind. */
describe('an interrupted benchmark', () => {
  it('on SIGTERM stops its three services, removes its streams and database, and exits 143', async () => {
    const bench = spawn(process.execPath, ['dist/bench/e2e.js'], {
      cwd: REPO,
      // long enough to be interrupted while it writes
      env: { ...process.env, BENCH_BUILDS: '5', BENCH_UPDATES: '1000', BENCH_RATE: '20' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    bench.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    bench.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
    const services = await eventually(() => {
      const found = servicesOf(bench.pid!);
      return found.length === 3 ? found : undefined;
    }, 30_000);
    const namespace = services[0].env.get('BUS_NAMESPACE')!;
    const database = new URL(services[0].env.get('DATABASE_URL')!);
    const nc = await connect({ servers: services[0].env.get('NATS_URL')! });
    const admin = new pg.Client({
      connectionString: Object.assign(new URL(database), { pathname: '/postgres' }).href,
    });
    await admin.connect();
    try {
      const jsm = await jetstreamManager(nc);
      const streams = async () => {
        const names = [];
        for await (const name of jsm.streams.names()) if (name.startsWith(`${namespace}_`)) names.push(name);
        return names;
      };
      const databaseExists = async () =>
        ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database.pathname.slice(1)]))
          .rowCount ?? 0) > 0;
      // running: its streams and its database are there (the services made them) before the signal
      await eventually(async () => ((await streams()).length > 0 ? true : undefined), 30_000, 'its streams');
      await eventually(async () => ((await databaseExists()) ? true : undefined), 30_000, 'its database');

      bench.kill('SIGTERM');
      assert.equal(await exited, 143, output);
      assert.match(output, /SIGTERM: stopping the benchmark's services and removing its data/);
      for (const { pid } of services) assert.equal(processAlive(pid), false, `service ${pid} still runs`);
      assert.deepEqual(await streams(), [], 'its streams are gone');
      assert.equal(await databaseExists(), false, 'its database is gone');
    } finally {
      bench.kill('SIGKILL');
      for (const { pid } of services) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
      await nc.close();
      await admin.end();
    }
  });
});
