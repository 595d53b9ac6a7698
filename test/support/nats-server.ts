import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './service-process.js';

/**
 * A nats-server of the test's own (JetStream, a free loopback port, its own store folder), never the shared
 * one: it can be killed with SIGKILL and started again on the same port and store, as a crash and a restart.
 */
export class NatsServer {
  private child?: ChildProcess;
  output = '';

  private constructor(
    readonly port: number,
    readonly storeDir: string,
    /** The HTTP monitoring port (`/varz`, `/jsz`), when asked for. */
    readonly monitorPort?: number,
  ) {}

  static async start(options: { monitor?: boolean } = {}): Promise<NatsServer> {
    const server = new NatsServer(
      await freePort(),
      await mkdtemp(join(tmpdir(), 'guardkit-nats-')),
      options.monitor ? await freePort() : undefined,
    );
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The server's memory (bytes), from its monitoring endpoint. */
  async memory(): Promise<number> {
    if (this.monitorPort === undefined) throw new Error('started without monitoring');
    const varz = (await (await fetch(`http://127.0.0.1:${this.monitorPort}/varz`)).json()) as { mem: number };
    return varz.mem;
  }

  /** Starts it (again) on its port and store folder; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.running) return;
    const child = spawn(
      'nats-server',
      [
        ...['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
        ...(this.monitorPort === undefined ? [] : ['-m', String(this.monitorPort)]),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`nats-server did not start on ${this.port}:\n${this.output.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
