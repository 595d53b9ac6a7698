import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { agentQueueName, GuardkitError } from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { agentRoles, RedisLink, redisConnection } from '#queues';

/** A job on an agent queue names what handles it (`pipeline_action`, later workflow roles) and carries its data. */
export type AgentJobHandler = (job: Job) => Promise<unknown>;

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
export class AgentQueues implements OnApplicationShutdown {
  private readonly roles = new Map<string, RoleQueue>();
  private readonly handlers = new Map<string, AgentJobHandler>();

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly redis: RedisLink,
  ) {}

  handle(name: string, handler: AgentJobHandler): void {
    this.handlers.set(name, handler);
  }

  /** Starts the workers of the configured roles (after the handlers are registered). */
  async start(): Promise<void> {
    await Promise.all(agentRoles(this.settings).map((role) => this.role(role).limited));
  }

  /** The agent queues so far (the configured roles', and any other role used since the start). */
  queues(): Queue[] {
    return [...this.roles.values()].map((r) => r.queue);
  }

  concurrencyOf(role: string): number {
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
      async (job: Job) => {
        const handler = this.handlers.get(job.name);
        if (!handler) throw new Error(`no handler for ${job.name} jobs`);
        return handler(job);
      },
      { connection, prefix, concurrency: this.concurrencyOf(role), maxStalledCount: 1 },
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
    await Promise.all(
      [...this.roles.values()].map(async ({ queue, events, worker }) => {
        await worker.close();
        await events.close();
        await queue.close();
      }),
    );
  }
}
