import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Subscription } from '@nats-io/nats-core';
import { FlowProducer, type FlowJob, type Job, type JobNode, Queue, QueueEvents, Worker } from 'bullmq';
import { AGENT_QUEUE_PREFIX, type AgentRoleView, agentQueueName, GuardkitError } from '#contracts';
import { Bus } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { agentRoles, RedisLink, redisConnection } from '#queues';

/** A job on an agent queue names what handles it (`pipeline_action`, `workflow_role`) and carries its data. */
export type AgentJobHandler = (job: Job, token: string | undefined) => Promise<unknown>;

/** A job of an agent queue that ended without an answer (Redis lost it, a worker threw). */
export class AgentJobLostError extends GuardkitError {
  readonly code = 'AGENT_JOB_LOST';
}

interface RoleQueue {
  queue: Queue;
  events: QueueEvents;
  worker: Worker;
  /** The role's concurrency, set on the queue for every worker of every replica. */
  limited: Promise<unknown>;
}

/**
 * One BullMQ queue per role (`agents-<role>`, SPEC 6.3), each with a worker whose concurrency is the role's
 * from AGENT_CONCURRENCY (`*` for the rest), and the same as the queue's global concurrency, so ten pipelines
 * never run more than that many of a role at once, however many orchestrator replicas work the queue. Queues of the built-in roles and of the roles AGENT_CONCURRENCY names exist from the start (the board
 * shows them); another role named by an action gets its queue when first used.
 */
@Injectable()
export class AgentQueues implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AgentQueues.name);
  private readonly roles = new Map<string, RoleQueue>();
  private readonly handlers = new Map<string, AgentJobHandler>();
  /** Concurrency set at run time (`PUT /agents/:role`), until the orchestrators restart. */
  private readonly overrides = new Map<string, number>();
  private flowProducer?: FlowProducer;
  private changes?: Subscription;

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly redis: RedisLink,
    private readonly bus: Bus,
  ) {}

  /** Names the handler of a job name; every module registers its handlers before the workers start. */
  handle(name: string, handler: AgentJobHandler): void {
    this.handlers.set(name, handler);
  }

  /** Starts the workers of the configured roles (the handlers were registered at module init). */
  async onApplicationBootstrap(): Promise<void> {
    this.changes = this.bus.nc.subscribe(this.bus.subjects.agentConcurrency(), {
      callback: (_error, msg) => {
        const { role, concurrency } = msg.json<{ role: string; concurrency: number }>();
        this.applyConcurrency(role, concurrency);
      },
    });
    await Promise.all(agentRoles(this.settings).map((role) => this.role(role).limited));
  }

  /**
   * Adds a flow (a tree of jobs whose parents run once their children are done) over the agent queues. Job
   * ids are the caller's, so adding the same flow twice adds nothing.
   */
  async addFlow(flow: FlowJob): Promise<JobNode> {
    const roles = new Set<string>();
    const visit = (node: FlowJob) => {
      roles.add(node.queueName.slice(AGENT_QUEUE_PREFIX.length));
      for (const child of node.children ?? []) visit(child);
    };
    visit(flow);
    // every queue of the flow has its worker (and its global concurrency) before a job lands on it
    await Promise.all([...roles].map((role) => this.role(role).limited));
    this.flowProducer ??= new FlowProducer({
      connection: redisConnection(this.settings.redis.url),
      prefix: this.settings.queues.prefix,
    });
    return this.flowProducer.add(flow);
  }

  queueOf(role: string): Queue {
    return this.role(role).queue;
  }

  /**
   * Changes how many jobs of a role run at once, on every orchestrator: the queue's global concurrency in Redis,
   * and each replica's worker (told over NATS). It lasts until the orchestrators restart with their settings.
   */
  async setConcurrency(role: string, concurrency: number): Promise<void> {
    const { queue, limited } = this.role(role);
    await limited;
    await queue.setGlobalConcurrency(concurrency);
    this.applyConcurrency(role, concurrency);
    this.bus.nc.publish(this.bus.subjects.agentConcurrency(), JSON.stringify({ role, concurrency }));
  }

  private applyConcurrency(role: string, concurrency: number): void {
    if (this.overrides.get(role) === concurrency) return;
    this.overrides.set(role, concurrency);
    this.role(role).worker.concurrency = concurrency;
    this.logger.log({ role, concurrency }, 'agent concurrency changed');
  }

  /** Each role's queue, concurrency and job counts (`GET /agents`). */
  async views(): Promise<AgentRoleView[]> {
    return Promise.all(
      [...this.roles.keys()].sort().map(async (role) => {
        const { queue } = this.role(role);
        const counts = await queue.getJobCounts(
          'waiting',
          'waiting-children',
          'active',
          'delayed',
          'prioritized',
          'failed',
          'completed',
        );
        return { role, queue: queue.name, concurrency: this.concurrencyOf(role), counts };
      }),
    );
  }

  /** The agent queues so far (the configured roles', and any other role used since the start). */
  queues(): Queue[] {
    return [...this.roles.values()].map((r) => r.queue);
  }

  concurrencyOf(role: string): number {
    const set = this.overrides.get(role);
    if (set !== undefined) return set;
    const c = this.settings.agents.concurrency;
    return c[role] ?? c['*'] ?? 1;
  }

  /**
   * Adds a job (a job with the same id is not added twice) and waits for its answer. The job id is derived
   * from what it executes, so the driver that resumes a run after a restart waits for the same job.
   */
  async run<R>(role: string, name: string, jobId: string, data: object): Promise<R> {
    const { queue, events, limited } = this.role(role);
    await limited;
    const job = await queue.add(name, data, {
      jobId,
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: this.settings.queues.keepFailed,
    });
    try {
      return (await job.waitUntilFinished(events)) as R;
    } catch (error) {
      throw new AgentJobLostError(
        `job ${jobId} on ${agentQueueName(role)} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  private role(role: string): RoleQueue {
    const existing = this.roles.get(role);
    if (existing) return existing;
    const name = agentQueueName(role);
    const connection = redisConnection(this.settings.redis.url);
    const prefix = this.settings.queues.prefix;
    const worker = new Worker(
      name,
      async (job: Job, token?: string) => {
        const handler = this.handlers.get(job.name);
        if (!handler) throw new Error(`no handler for ${job.name} jobs`);
        return handler(job, token);
      },
      {
        connection,
        prefix,
        concurrency: this.concurrencyOf(role),
        maxStalledCount: 1,
        // a job whose worker died is taken over once its lock lapses
        lockDuration: this.settings.agents.lockMs,
        stalledInterval: this.settings.agents.lockMs,
      },
    );
    const queue = new Queue(name, { connection, prefix });
    const events = new QueueEvents(name, { connection, prefix });
    // a listener on each per job being waited for: one per run driven, unbounded by design
    events.setMaxListeners(0);
    queue.setMaxListeners(0);
    const entry: RoleQueue = {
      queue,
      events,
      worker,
      // A worker's concurrency bounds one replica; the queue's global concurrency bounds them all together.
      limited: queue.setGlobalConcurrency(this.concurrencyOf(role)),
    };
    // a lost Redis is said once, by the link, not by every connection at every retry
    for (const emitter of [entry.queue, entry.events, worker]) this.redis.watch(emitter);
    this.roles.set(role, entry);
    return entry;
  }

  async onApplicationShutdown(): Promise<void> {
    this.changes?.unsubscribe();
    await this.flowProducer?.close();
    await Promise.all(
      [...this.roles.values()].map(async ({ queue, events, worker }) => {
        await worker.close();
        await events.close();
        await queue.close();
      }),
    );
  }
}
