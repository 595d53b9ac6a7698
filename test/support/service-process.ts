import { readFileSync } from 'node:fs';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export type ServiceName = 'orchestrator' | 'ingestor' | 'gateway';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A service run as its container and `npm start` run it: `node dist/apps/<name>/src/main.js` in a process of
 * its own. Output is kept for diagnostics (`output`); `stop()` sends SIGTERM and waits; `kill()` is kill -9.
 */
export class ServiceProcess {
  /** Those still running (a benchmark stops them when it is interrupted: children outlive a killed parent). */
  static readonly live = new Set<ServiceProcess>();
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: ServiceName,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        ServiceProcess.live.delete(this);
        resolve({ code, signal });
      }),
    );
    ServiceProcess.live.add(this);
  }

  /** `nodeArgs`: more flags for node (a benchmark's `--cpu-prof --cpu-prof-dir=…`). */
  static start(name: ServiceName, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): ServiceProcess {
    const child = spawn(
      process.execPath,
      ['--enable-source-maps', ...nodeArgs, `dist/apps/${name}/src/main.js`],
      {
        cwd: REPO,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return new ServiceProcess(name, child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves when the output matches, or fails (with the output) after the timeout or an early exit. */
  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${this.name} did not print ${pattern}; output:\n${this.output.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** A TCP port nobody listens on right now. */
/** Ports this process handed out: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A free TCP port for a server a test starts, below the kernel's ephemeral range (32768–60999 here): a port
 * from `listen(0)` is in that range, where an outgoing connection (to NATS, Redis, PostgreSQL) can take it
 * between this check and the server's own listen, which made a cluster test fail with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    // every address, as the services bind (a port taken on any address is refused here too)
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** Whether a process runs: it exists and is not a zombie (this machine's PID 1 does not reap orphans). */
export function processAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}
