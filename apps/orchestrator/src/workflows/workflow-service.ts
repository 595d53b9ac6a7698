import { randomBytes } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Job } from 'bullmq';
import {
  CreateWorkflowDto,
  InvalidTransitionError,
  ListWorkflowsQuery,
  NoArguments,
  NotFoundError,
  type RoleView,
  SetAgentConcurrency,
  ValidationError,
  WORKFLOW_COMMANDS,
  WORKFLOW_STAGES,
  WorkflowArtifactQuery,
  WorkflowCommandQuery,
  type WorkflowArtifact,
  type WorkflowCreated,
  WorkflowIdQuery,
  type WorkflowView,
} from '#contracts';
import { RpcServer } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { AgentQueues } from '../agents/agent-queues.js';
import { BuildCancellation } from '../agents/build-cancellation.js';
import { workspaceFolder } from '../agents/workspace-folder.js';
import {
  draftNodes,
  flowJobIds,
  nodeOf,
  roleJobId,
  type RoleJobData,
  WORKFLOW_ROLE_JOB,
  workflowFlow,
} from './workflow-graph.js';
import { WorkflowLedger } from './workflow-ledger.js';
import { type Workflow, WorkflowRepository } from './workflow-repository.js';
import { roleJobOptions, WorkflowRoleProcessor } from './workflow-role-processor.js';
import { headCommit, isWorkspaceGitError } from './workspace-diff.js';

/** How often live workflows are checked for a flow that is missing (never added, lost) or failed under them. */
const SWEEP_MS = 10_000;
/** How long a cancelled workflow's jobs are tried to be removed (a running one is locked until it ends). */
const REMOVE_FOR_MS = 30_000;

function newWorkflowId(now: Date): string {
  return `wf-${now.getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * SPEC 6.2 over `guardkit.rpc.workflows.*` and `agents.*`: start, list, show, cancel and retry workflows, read
 * their artifacts, and see or change the agent queues' concurrency. A sweep keeps every live workflow's flow in
 * Redis: one never added (Redis away at the start) or lost is added again (roles that answered do not run
 * again), and a flow that failed under a workflow still running (its last role's job failed with an error
 * the role could not record) fails the workflow.
 */
@Injectable()
export class WorkflowService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkflowService.name);
  private sweep?: NodeJS.Timeout;

  constructor(
    private readonly repo: WorkflowRepository,
    private readonly ledger: WorkflowLedger,
    private readonly queues: AgentQueues,
    private readonly processor: WorkflowRoleProcessor,
    private readonly cancellation: BuildCancellation,
    private readonly rpc: RpcServer,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.queues.handle(WORKFLOW_ROLE_JOB, (job, token) =>
      this.processor.process(job as Job<RoleJobData>, token),
    );
    this.rpc.serve('workflows.create', CreateWorkflowDto, (dto) => this.create(dto));
    this.rpc.serve('workflows.list', ListWorkflowsQuery, async (q) => ({
      items: await Promise.all((await this.repo.list(q.state, q.limit ?? 50)).map((wf) => this.view(wf))),
    }));
    this.rpc.serve('workflows.get', WorkflowIdQuery, async (q) =>
      this.view(await this.repo.get(q.workflow_id)),
    );
    this.rpc.serve('workflows.command', WorkflowCommandQuery, (q) => this.command(q.workflow_id, q.command));
    this.rpc.serve('workflows.artifact', WorkflowArtifactQuery, (q) => this.artifact(q.workflow_id, q.name));
    this.rpc.serve('agents.list', NoArguments, async () => ({ items: await this.queues.views() }));
    this.rpc.serve('agents.concurrency', SetAgentConcurrency, async (q) => {
      await this.queues.setConcurrency(q.role, q.concurrency);
      return { items: await this.queues.views() };
    });
  }

  onApplicationBootstrap(): void {
    this.sweep = setInterval(() => void this.keepFlows().catch(() => undefined), SWEEP_MS);
    this.sweep.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweep);
  }

  async create(dto: CreateWorkflowDto): Promise<WorkflowCreated> {
    const cwd = await workspaceFolder(dto.cwd, this.settings.pipelines.workspaceRoots);
    let baseCommit: string;
    try {
      baseCommit = await headCommit(cwd);
    } catch (error) {
      if (isWorkspaceGitError(error)) throw new ValidationError(error.message, ['cwd']);
      throw error;
    }
    const mode = dto.mode ?? 'feature';
    if (dto.hunters !== undefined && mode !== 'bug_hunt')
      throw new ValidationError('hunters is for mode bug_hunt', ['hunters']);
    const now = this.clock.now();
    const wf = await this.repo.insert({
      workflowId: newWorkflowId(now),
      requestId: dto.request_id ?? null,
      state: 'queued',
      mode,
      hunters: dto.hunters ?? 2,
      description: dto.description,
      guidance: dto.guidance ?? null,
      cwd,
      baseCommit,
      round: 1,
      generation: 1,
      currentNode: null,
      failure: null,
      notes: [],
      metrics: {},
      eventSeq: 0,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
    });
    await this.startFlow(wf).catch((error: unknown) =>
      // Redis away: the sweep adds it once Redis is back
      this.logger.warn({ err: error, workflow_id: wf.workflowId }, 'could not add a workflow`s flow yet'),
    );
    return { workflow_id: wf.workflowId, build_id: wf.workflowId, state: wf.state };
  }

  /**
   * Marks the workflow running, then adds the flow of its round (from its first stage, or where a retry
   * starts): a role's job finds its workflow running. Should adding fail (Redis away), the sweep adds it.
   */
  private async startFlow(
    wf: Workflow,
    fromStage = wf.round === 1 ? 0 : nodeOf('implementer').stage,
  ): Promise<void> {
    await this.ledger.commit(
      wf.workflowId,
      (w) => {
        if (w.state !== 'queued') return null;
        w.state = 'running';
        w.startedAt ??= this.clock.now();
        return { node: null, phaseStatus: 'in_progress', detail: 'started' };
      },
      ['queued'],
    );
    await this.queues.addFlow(workflowFlow(wf, fromStage, wf.round, roleJobOptions(this.settings)));
  }

  private async keepFlows(): Promise<void> {
    const stale = new Date(this.clock.now().getTime() - SWEEP_MS);
    for (const wf of [...(await this.repo.list('queued', 500)), ...(await this.repo.list('running', 500))]) {
      if (wf.updatedAt > stale) continue; // moving: leave it to its jobs
      const root = await this.queues
        .queueOf('reviewer')
        .getJob(roleJobId(wf.workflowId, wf.generation, wf.round, 'reviewer'));
      if (!root) {
        this.logger.warn(
          { workflow_id: wf.workflowId, round: wf.round },
          'a workflow`s flow is missing; adding it again',
        );
        await this.startFlow(wf);
      } else if (await root.isFailed()) {
        await this.ledger.commit(
          wf.workflowId,
          (w) => {
            if (w.generation !== wf.generation || w.round !== wf.round) return null;
            w.state = 'failed';
            w.failure = {
              node: w.currentNode,
              round: w.round,
              reason: `a role's job failed: ${root.failedReason}`,
            };
            w.finishedAt = this.clock.now();
            return { phaseStatus: 'failed', detail: root.failedReason };
          },
          ['running'],
        );
      }
    }
  }

  async command(workflowId: string, command: keyof typeof WORKFLOW_COMMANDS): Promise<WorkflowView> {
    const allowed: readonly string[] = WORKFLOW_COMMANDS[command];
    const before = await this.repo.get(workflowId);
    if (!allowed.includes(before.state)) {
      throw new InvalidTransitionError(
        `cannot ${command} a ${before.state} workflow (${command} is for ${allowed.join(', ')} workflows)`,
      );
    }
    if (command === 'cancel') {
      const { wf, applied } = await this.ledger.commit(workflowId, (w) => {
        w.state = 'cancelled';
        w.finishedAt = this.clock.now();
        return { phaseStatus: 'failed', detail: 'cancelled' };
      });
      if (!applied) throw new InvalidTransitionError(`cannot cancel a ${wf.state} workflow`);
      this.cancellation.cancel(workflowId); // on every replica: a role may run on another
      void this.removeJobs(wf);
      return this.view(wf);
    }
    // retry: a new flow generation from the failed node (the drafts when none was left), in its round
    let from = 0;
    const { wf, applied } = await this.ledger.commit(
      workflowId,
      (w) => {
        const node = w.failure?.node ?? w.currentNode;
        from =
          node && !(node === 'consensus' && w.failure?.reason.startsWith('every drafter'))
            ? nodeOf(node).stage
            : 0;
        w.round = w.failure?.round ?? w.round;
        w.generation += 1;
        w.state = 'queued';
        w.failure = null;
        w.finishedAt = null;
        return {
          node: node ?? null,
          phaseStatus: 'in_progress',
          detail: `retried from ${node ?? 'the start'}`,
        };
      },
      ['failed', 'cancelled'],
    );
    if (!applied) throw new InvalidTransitionError(`cannot retry a ${wf.state} workflow`);
    await this.startFlow(wf, from);
    return this.view(await this.repo.get(workflowId));
  }

  /** Removes a cancelled workflow's jobs; a running one is locked until its process ends, so this keeps trying. */
  private async removeJobs(wf: Workflow): Promise<void> {
    let left = flowJobIds(wf, wf.round);
    const deadline = Date.now() + REMOVE_FOR_MS;
    while (left.length > 0 && Date.now() < deadline) {
      const still: typeof left = [];
      for (const job of left) {
        const queue = this.queues.queueOf(job.role);
        try {
          if ((await queue.getJob(job.id)) && (await queue.remove(job.id, { removeChildren: true })) !== 1)
            still.push(job);
        } catch {
          still.push(job);
        }
      }
      left = still;
      if (left.length > 0) await new Promise((r) => setTimeout(r, 500));
    }
    if (left.length > 0)
      this.logger.warn(
        { workflow_id: wf.workflowId, jobs: left.map((j) => j.id) },
        'some jobs of a cancelled workflow stay',
      );
  }

  async artifact(workflowId: string, name: string): Promise<WorkflowArtifact> {
    await this.repo.get(workflowId);
    const found = await this.repo.artifact(workflowId, name);
    if (!found) throw new NotFoundError(`workflow ${workflowId} has no artifact ${name}`);
    return { name, content_type: found.contentType, content: found.content };
  }

  async view(wf: Workflow): Promise<WorkflowView> {
    const roles = new Map<string, RoleView>();
    for (const run of await this.repo.roleRuns(wf.workflowId)) {
      const key = `${run.round}.${run.node}`;
      const role = roles.get(key) ?? {
        node: run.node,
        role: run.role,
        round: run.round,
        state: 'waiting',
        attempts: [],
      };
      role.attempts.push({
        attempt: run.attempt,
        model: run.model,
        state: run.state,
        exit_code: run.exitCode,
        detail: run.detail,
        answer: run.answer,
        started_at: run.startedAt.toISOString(),
        ended_at: run.endedAt?.toISOString() ?? null,
      });
      role.state = run.state;
      roles.set(key, role);
    }
    if (wf.state === 'queued' || wf.state === 'running') {
      // the roles still to come in this round, so a viewer sees the whole graph
      const stages = wf.round === 1 ? [0, 1, 2, 3, 4, 5] : [3, 4, 5];
      for (const stage of stages) {
        const nodes = stage === 0 ? draftNodes(wf.mode, wf.hunters) : [nodeOf(WORKFLOW_STAGES[stage])];
        for (const n of nodes) {
          const key = `${wf.round}.${n.node}`;
          if (!roles.has(key))
            roles.set(key, { node: n.node, role: n.role, round: wf.round, state: 'waiting', attempts: [] });
        }
      }
    }
    return {
      workflow_id: wf.workflowId,
      build_id: wf.workflowId,
      state: wf.state,
      mode: wf.mode,
      description: wf.description,
      guidance: wf.guidance,
      cwd: wf.cwd,
      base_commit: wf.baseCommit,
      round: wf.round,
      max_rounds: this.settings.workflows.maxReviewRounds,
      current: wf.currentNode,
      roles: [...roles.values()].sort(
        (a, b) =>
          a.round - b.round || nodeOf(a.node).stage - nodeOf(b.node).stage || a.node.localeCompare(b.node),
      ),
      artifacts: (await this.repo.artifacts(wf.workflowId)).map((a) => ({
        name: a.name,
        content_type: a.contentType,
        bytes: a.bytes,
        created_at: a.createdAt.toISOString(),
      })),
      failure: wf.failure,
      notes: wf.notes,
      created_at: wf.createdAt.toISOString(),
      finished_at: wf.finishedAt?.toISOString() ?? null,
      updated_at: wf.updatedAt.toISOString(),
    };
  }
}
