import { InvalidIdError } from './errors.js';
import { assertSafeId, isSafeId } from './ids.js';

/** The JetStream streams of SPEC 2, by role. */
export const STREAM_NAMES = {
  builds: 'GUARDKIT_BUILDS',
  outbox: 'GUARDKIT_OUTBOX',
  triggers: 'GUARDKIT_TRIGGERS',
  ingest: 'GUARDKIT_INGEST',
  logs: 'GUARDKIT_LOGS',
} as const;
export type StreamRole = keyof typeof STREAM_NAMES;
export const STREAM_ROLES = Object.keys(STREAM_NAMES) as StreamRole[];

/**
 * Builds every subject and stream name. A namespace (BUS_NAMESPACE, empty by default) prefixes them all,
 * so several installations, or parallel tests, can share one NATS server without seeing each other.
 * Every id is checked before it reaches a subject.
 */
export class Subjects {
  private readonly root: string;

  constructor(readonly namespace = '') {
    if (namespace !== '' && !isSafeId(namespace)) {
      throw new InvalidIdError(`invalid bus namespace ${JSON.stringify(namespace)}`);
    }
    this.root = namespace ? `${namespace}.guardkit` : 'guardkit';
  }

  streamName(role: StreamRole): string {
    return this.namespace ? `${this.namespace}_${STREAM_NAMES[role]}` : STREAM_NAMES[role];
  }

  /** The subjects a stream captures. */
  streamSubjects(role: StreamRole): string[] {
    switch (role) {
      case 'builds':
        return [this.allBuildStatus()];
      case 'outbox':
        return [`${this.root}.outbox.*.*`];
      case 'triggers':
        return [this.allTriggerStatus()];
      case 'ingest':
        return [`${this.root}.ingest.rejected`];
      case 'logs':
        return [this.allLogs()];
    }
  }

  buildStatus(buildId: string): string {
    return `${this.root}.builds.${assertSafeId('build id', buildId)}.status`;
  }

  allBuildStatus(): string {
    return `${this.root}.builds.*.status`;
  }

  /** The build id of a `…builds.<id>.status` subject, or undefined for any other subject. */
  buildIdOf(subject: string): string | undefined {
    return this.idBetween(subject, `${this.root}.builds.`, '.status');
  }

  private idBetween(subject: string, prefix: string, suffix: string): string | undefined {
    if (!subject.startsWith(prefix) || !subject.endsWith(suffix)) return undefined;
    const id = subject.slice(prefix.length, subject.length - suffix.length);
    return isSafeId(id) ? id : undefined;
  }

  outbox(source: string, role: string): string {
    return `${this.root}.outbox.${assertSafeId('outbox source', source)}.${assertSafeId('outbox role', role)}`;
  }

  /** The source of a `…outbox.<source>.<role>` subject, or undefined for any other subject. */
  outboxSourceOf(subject: string): string | undefined {
    const prefix = `${this.root}.outbox.`;
    if (!subject.startsWith(prefix)) return undefined;
    const [source, role, ...rest] = subject.slice(prefix.length).split('.');
    return rest.length === 0 && role !== undefined && isSafeId(source) && isSafeId(role) ? source : undefined;
  }

  /** Every role of one outbox source. */
  outboxSource(source: string): string {
    return `${this.root}.outbox.${assertSafeId('outbox source', source)}.*`;
  }

  /** The trigger id of a `…triggers.<id>.status` subject, or undefined for any other subject. */
  triggerIdOf(subject: string): string | undefined {
    return this.idBetween(subject, `${this.root}.triggers.`, '.status');
  }

  allTriggerStatus(): string {
    return `${this.root}.triggers.*.status`;
  }

  triggerStatus(triggerId: string): string {
    return `${this.root}.triggers.${assertSafeId('trigger id', triggerId)}.status`;
  }

  /** A build's output lines (SPEC 6.3). */
  logs(buildId: string): string {
    return `${this.root}.logs.${assertSafeId('build id', buildId)}`;
  }

  allLogs(): string {
    return `${this.root}.logs.*`;
  }

  /** The build id of a `…logs.<id>` subject, or undefined for any other subject. */
  logsBuildIdOf(subject: string): string | undefined {
    return this.idBetween(subject, `${this.root}.logs.`, '');
  }

  /** Core NATS (no stream): a build (a run, a workflow) was cancelled; every orchestrator ends its processes. */
  buildCancelled(): string {
    return `${this.root}.agents.cancelled`;
  }

  /** Core NATS (no stream): a role's concurrency changed at run time; every orchestrator applies it. */
  agentConcurrency(): string {
    return `${this.root}.agents.concurrency`;
  }

  ingestRejected(): string {
    return `${this.root}.ingest.rejected`;
  }

  /** Request/reply subjects: `guardkit.rpc.builds.get` and the like. */
  rpc(method: RpcMethod): string {
    return `${this.root}.rpc.${method}`;
  }
}

export const RPC_METHODS = [
  'builds.list',
  'builds.get',
  'outbox.list',
  'triggers.create',
  'triggers.get',
  'triggers.list',
  'triggers.replay',
  'triggers.purge',
  'threads.progress',
  'sessions.register',
  'sessions.heartbeat',
  'sessions.deregister',
  'sessions.get',
  'sessions.list',
  'installation.whoami',
  'pipelines.create',
  'pipelines.list',
  'pipelines.get',
  'pipelines.command',
  'pipelines.current',
  'pipelines.start_default',
  'scripts.list',
  'scripts.save',
  'scripts.get',
  'scripts.delete',
  'inbox.list',
  'inbox.post',
  'workflows.create',
  'workflows.list',
  'workflows.get',
  'workflows.command',
  'workflows.artifact',
  'agents.list',
  'agents.concurrency',
  'audit.record',
  'audit.list',
] as const;
export type RpcMethod = (typeof RPC_METHODS)[number];
