import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import { Bus, EventPublisher } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { AgentQueues } from '../agents/agent-queues.js';
import { BuildCancellation } from '../agents/build-cancellation.js';
import { ProcessExecutor } from '../agents/process-executor.js';
import {
  PIPELINE_ACTION_JOB,
  PipelineActionProcessor,
  type PipelineActionJob,
} from './pipeline-action-processor.js';
import { PipelineDriver } from './pipeline-driver.js';
import { PipelineLedger } from './pipeline-ledger.js';
import { PipelineRepository } from './pipeline-repository.js';

/**
 * How often runs that should be moving but have no driver (one stopped by an error, or whose replica died)
 * are picked up, and this replica's leases renewed.
 */
const SWEEP_MS = 5000;
/** A driver's lease on its run: a replica that stops renewing it (it died) loses its runs after this. */
export const DRIVER_LEASE_MS = 15_000;

/**
 * Drives active runs: one driver per run in the whole installation, held by a lease on the run's row
 * (`driver_id`), renewed while it drives. A driver starts when a run is created, resumed or retried, and for
 * every run still `queued` or `running` whose lease is free or lapsed (its replica died), checked at start and
 * every few seconds. On shutdown the drivers stop at their next move and the running processes are ended;
 * their leases are released, so a replica still up (or this one, restarted) resumes them.
 */
@Injectable()
export class PipelineEngine implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(PipelineEngine.name);
  private readonly drivers = new Map<string, { driver: PipelineDriver; done: Promise<void> }>();
  private stopping = false;
  private sweep?: NodeJS.Timeout;
  /** This replica's driver id (a lease names it). */
  readonly driverId = `orchestrator-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

  constructor(
    private readonly repo: PipelineRepository,
    private readonly ledger: PipelineLedger,
    private readonly queues: AgentQueues,
    private readonly executor: ProcessExecutor,
    private readonly processor: PipelineActionProcessor,
    private readonly cancellation: BuildCancellation,
    private readonly publisher: EventPublisher,
    private readonly bus: Bus,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.queues.handle(PIPELINE_ACTION_JOB, (job) => this.processor.process(job as Job<PipelineActionJob>));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.resumeActive();
    this.sweep = setInterval(() => void this.resumeActive().catch(() => undefined), SWEEP_MS);
    this.sweep.unref();
  }

  /** Starts a run's driver, unless one is driving it already, here or on another replica. */
  async start(runId: string): Promise<void> {
    if (this.stopping || this.drivers.has(runId)) return;
    if (!(await this.repo.claimDriver(runId, this.driverId, DRIVER_LEASE_MS))) return;
    if (this.stopping || this.drivers.has(runId)) return;
    const driver = new PipelineDriver(
      {
        driverId: this.driverId,
        executor: this.executor,
        repo: this.repo,
        ledger: this.ledger,
        queues: this.queues,
        publisher: this.publisher,
        bus: this.bus,
        clock: this.clock,
        settings: this.settings,
      },
      runId,
    );
    const done = driver
      .drive()
      .catch((error: unknown) => {
        // PostgreSQL or Redis away, or the lease lost: the sweep starts the run again where it is due
        this.logger.error(
          { err: error, run_id: runId },
          'a pipeline driver stopped; its run is picked up again shortly',
        );
      })
      .finally(async () => {
        this.drivers.delete(runId);
        await this.repo.releaseDriver(runId, this.driverId).catch(() => undefined); // else it lapses
      });
    this.drivers.set(runId, { driver, done });
  }

  /** Ends the processes of a run (a cancel), on every replica; its driver ends the run when their jobs answer. */
  cancelProcesses(runId: string): void {
    this.cancellation.cancel(runId);
  }

  get driving(): number {
    return this.drivers.size;
  }

  private async resumeActive(): Promise<void> {
    const held = await this.repo.renewDriver(this.driverId, [...this.drivers.keys()], DRIVER_LEASE_MS);
    for (const [runId, { driver }] of this.drivers) if (!held.includes(runId)) driver.stop(); // taken over
    for (const runId of await this.repo.activeRunIds()) await this.start(runId);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweep);
    for (const { driver } of this.drivers.values()) driver.stop();
    const ended = this.executor.interruptAll('the orchestrator is stopping');
    if (ended > 0)
      this.logger.log({ processes: ended }, 'ending running actions; their runs resume at the next start');
    await Promise.all([...this.drivers.values()].map((d) => d.done));
  }
}
