import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterInfo, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
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
    /** Its place in a cluster (see NatsCluster). */
    private readonly cluster?: ClusterMember,
    private readonly jetstream = true,
  ) {}

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = await NatsServer.create(options);
    await server.restart();
    return server;
  }

  /** A server not started yet (a cluster's members start together). */
  static async create(options: NatsServerOptions = {}): Promise<NatsServer> {
    return new NatsServer(
      await freePort(),
      await mkdtemp(join(tmpdir(), 'guardkit-nats-')),
      options.monitor ? await freePort() : undefined,
      options.cluster,
      options.jetstream ?? true,
    );
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Its server name in a cluster. */
  get name(): string | undefined {
    return this.cluster?.serverName;
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
        ...['-a', '127.0.0.1', '-p', String(this.port)],
        ...(this.jetstream ? ['-js', '-sd', this.storeDir] : []),
        ...(this.monitorPort === undefined ? [] : ['-m', String(this.monitorPort)]),
        ...(this.cluster === undefined
          ? []
          : [
              ...['-n', this.cluster.serverName, '--cluster_name', this.cluster.clusterName],
              ...['--cluster', `nats://127.0.0.1:${this.cluster.routePort}`],
              ...['--routes', this.cluster.routes.map((port) => `nats://127.0.0.1:${port}`).join(',')],
            ]),
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

export interface NatsServerOptions {
  monitor?: boolean;
  cluster?: ClusterMember;
  /** false: a server without JetStream (a misconfigured NATS). */
  jetstream?: boolean;
}

/** Where a server sits in a cluster: its name, its route port and every member's route port. */
export interface ClusterMember {
  clusterName: string;
  serverName: string;
  routePort: number;
  routes: number[];
}

/**
 * Three (or `size`) nats-servers of the test's own on free loopback ports, each with its own store folder,
 * routed to each other as one JetStream cluster; never the shared server. A member can be killed with
 * SIGKILL and started again on its port and store.
 */
export class NatsCluster {
  private constructor(readonly servers: NatsServer[]) {}

  /** `size` 1: one server, not clustered (a NatsServer with the cluster's interface). */
  /**
   * `running`: how many members to start now (the rest with `restart()` later: a cluster still forming);
   * when all start, resolves once they have elected a JetStream meta leader.
   */
  static async start(size = 3, options: { running?: number } = {}): Promise<NatsCluster> {
    if (size === 1) return new NatsCluster([await NatsServer.start({ monitor: true })]);
    const clusterName = `gk-${Math.random().toString(36).slice(2, 8)}`;
    const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
    const servers = await Promise.all(
      routes.map((routePort, i) =>
        NatsServer.create({
          monitor: true,
          cluster: { clusterName, serverName: `${clusterName}-n${i + 1}`, routePort, routes },
        }),
      ),
    );
    const cluster = new NatsCluster(servers);
    const running = options.running ?? size;
    await Promise.all(servers.slice(0, running).map((server) => server.restart()));
    if (running < size) return cluster;
    // JetStream answers once the members have elected a meta leader
    const deadline = Date.now() + 20_000;
    while (!(await cluster.meta().catch(() => undefined))?.leader) {
      if (Date.now() > deadline)
        throw new Error(`the cluster ${clusterName} elected no JetStream leader in 20 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return cluster;
  }

  /** Every member's client URL, as NATS_URL takes them. */
  get url(): string {
    return this.servers.map((server) => server.url).join(',');
  }

  /** The JetStream meta group's leader and how many peers it counts as current, from a member's `/jsz`. */
  async meta(via = this.servers.find((s) => s.running)): Promise<{ leader?: string; current: number }> {
    if (!via?.monitorPort) return { current: 0 };
    const jsz = (await (await fetch(`http://127.0.0.1:${via.monitorPort}/jsz`)).json()) as {
      meta_cluster?: { leader?: string; replicas?: { current?: boolean }[] };
    };
    const meta = jsz.meta_cluster;
    return {
      leader: meta?.leader,
      current: 1 + (meta?.replicas ?? []).filter((replica) => replica.current).length,
    };
  }

  /** The member that leads a stream now (the stream's writes go through it). */
  async leaderOf(stream: string): Promise<NatsServer> {
    if (this.servers.length === 1) return this.servers[0];
    const leader = (await this.streamCluster(stream))?.leader;
    const server = this.servers.find((s) => s.name === leader);
    if (!server) throw new Error(`no leader for ${stream} among the members (${leader ?? 'none'})`);
    return server;
  }

  /** A stream's replicas that are current now, its leader included. */
  async currentReplicas(stream: string): Promise<number> {
    const cluster = await this.streamCluster(stream).catch(() => undefined);
    if (!cluster) return 0;
    return (cluster.leader ? 1 : 0) + (cluster.replicas ?? []).filter((r) => r.current && !r.offline).length;
  }

  private async streamCluster(stream: string): Promise<ClusterInfo | undefined> {
    const nc = await connect({ servers: this.servers.filter((s) => s.running).map((s) => s.url) });
    try {
      return (await (await jetstreamManager(nc)).streams.info(stream)).cluster;
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.stop()));
  }
}
