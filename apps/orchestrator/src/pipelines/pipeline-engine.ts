import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Job } from 'bullmq';
import { Bus, EventPublisher } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { AgentQueues } from '../agents/agent-queues.js';
import { ProcessExecutor } from '../agents/process-executor.js';
import {
  PIPELINE_ACTION_JOB,
  PipelineActionProcessor,
  type PipelineActionJob,
} from './pipeline-action-processor.js';
import { PipelineDriver } from './pipeline-driver.js';
import { PipelineLedger } from './pipeline-ledger.js';
import { PipelineRepository } from './pipeline-repository.js';

/** How often runs that should be moving but have no driver (one stopped by an error) are picked up again. */
const SWEEP_MS = 5000;

/**
 * Drives every active run of this orchestrator: one driver per run, started when a run is created, resumed
 * or retried, and for every run still `queued` or `running` at start (an orchestrator that died resumes its
 * runs). On shutdown the drivers stop at their next move and the running processes are ended (their runs
 * resume at the next start). One orchestrator drives the runs of an installation (docs/pipelines.md).
 */
@Injectable()
export class PipelineEngine implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(PipelineEngine.name);
  private readonly drivers = new Map<string, { driver: PipelineDriver; done: Promise<void> }>();
  private stopping = false;
  private sweep?: NodeJS.Timeout;

  constructor(
    private readonly repo: PipelineRepository,
    private readonly ledger: PipelineLedger,
    private readonly queues: AgentQueues,
    private readonly executor: ProcessExecutor,
    private readonly processor: PipelineActionProcessor,
    private readonly publisher: EventPublisher,
    private readonly bus: Bus,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.queues.handle(PIPELINE_ACTION_JOB, (job) => this.processor.process(job as Job<PipelineActionJob>));
    this.queues.start();
    await this.resumeActive();
    this.sweep = setInterval(() => void this.resumeActive().catch(() => undefined), SWEEP_MS);
    this.sweep.unref();
  }

  /** Starts a run's driver unless one is already driving it. */
  start(runId: string): void {
    if (this.stopping || this.drivers.has(runId)) return;
    const driver = new PipelineDriver(
      {
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
        // PostgreSQL or Redis away: the sweep starts the run again once they answer
        this.logger.error({ err: error, run_id: runId }, 'a pipeline driver stopped; retrying shortly');
      })
      .finally(() => this.drivers.delete(runId));
    this.drivers.set(runId, { driver, done });
  }

  /** Ends the processes of a run (a cancel); its driver ends the run when their jobs answer. */
  cancelProcesses(runId: string): void {
    this.executor.cancel(runId);
  }

  get driving(): number {
    return this.drivers.size;
  }

  private async resumeActive(): Promise<void> {
    for (const runId of await this.repo.activeRunIds()) {
      if (!this.drivers.has(runId)) this.logger.log({ run_id: runId }, 'driving pipeline run');
      this.start(runId);
    }
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
