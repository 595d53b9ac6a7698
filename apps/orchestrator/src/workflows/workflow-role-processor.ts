import { hostname } from 'node:os';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { GuardkitError, type RoleAnswer } from '#contracts';
import { Bus, EventPublisher } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { AgentQueues } from '../agents/agent-queues.js';
import { LogSink } from '../agents/log-sink.js';
import { allowlistedEnvironment } from '../agents/process-environment.js';
import { ProcessExecutor } from '../agents/process-executor.js';
import { signalGroup } from '../agents/process-group.js';
import { parseRoleAnswer } from './role-answer.js';
import { buildPrompt, type PromptInput, roleInstructions } from './role-prompt.js';
import { modelFor, nodeOf, type RoleJobData, workflowFlow } from './workflow-graph.js';
import { WorkflowLedger } from './workflow-ledger.js';
import { WorkflowMetrics } from './workflow-metrics.js';
import { type RoleRun, type RoleRunKey, type Workflow, WorkflowRepository } from './workflow-repository.js';
import { diffSince } from './workspace-diff.js';
import { type WorkspaceLease, WorkspaceLocks } from './workspace-lock.js';

/** How often an implementer waiting for its workspace asks again. */
const LOCK_RETRY_MS = 1000;
/** The output of an execution kept to find its answer and as an artifact (its end: the answer is last). */
const OUTPUT_KEEP_CHARS = 1_000_000;
/** The test output shown to the reviewer in the tester's answer (the whole log is an artifact). */
const TEST_DETAILS_CHARS = 4000;

/** An execution that gave no answer: it exited non-zero, timed out, or printed no answer object. */
export class RoleAttemptFailedError extends GuardkitError {
  readonly code = 'ROLE_ATTEMPT_FAILED';
}

const tail = (text: string, chars: number) => (text.length > chars ? text.slice(text.length - chars) : text);

/** BullMQ's job options of every role: attempts with exponential backoff, finished jobs bounded. */
export function roleJobOptions(settings: Settings) {
  return {
    attempts: settings.workflows.roleAttempts,
    backoff: { type: 'exponential' as const, delay: settings.workflows.retryBackoffMs },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: settings.queues.keepFailed,
  };
}

/**
 * Executes one role of a workflow on its agent queue (SPEC 6.2). The execution is recorded on the locked
 * workflow before its process starts (one a dead worker left running is marked interrupted and its process
 * ended); its end, answer and artifacts are recorded with a build status event in one transaction. What the
 * answer means for the workflow (approval, a new review round, a block) is decided in `advance`, which a job
 * delivered again after it answered repeats without running anything.
 */
@Injectable()
export class WorkflowRoleProcessor {
  private readonly logger = new Logger(WorkflowRoleProcessor.name);
  private readonly instructions = new Map<string, Promise<string>>();

  constructor(
    private readonly repo: WorkflowRepository,
    private readonly ledger: WorkflowLedger,
    private readonly locks: WorkspaceLocks,
    private readonly executor: ProcessExecutor,
    private readonly queues: AgentQueues,
    private readonly metrics: WorkflowMetrics,
    private readonly publisher: EventPublisher,
    private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** A role's instructions, read once per process (a changed template takes effect at the next start). */
  private instructionsOf(role: string): Promise<string> {
    let read = this.instructions.get(role);
    if (!read) {
      read = roleInstructions(role, this.settings.workflows.templatesDir);
      read.catch(() => this.instructions.delete(role)); // a failed read is tried again next time
      this.instructions.set(role, read);
    }
    return read;
  }

  async process(job: Job<RoleJobData>, token: string | undefined): Promise<RoleAnswer> {
    const d = job.data;
    const [wf, runs] = await Promise.all([this.repo.get(d.workflowId), this.repo.roleRuns(d.workflowId)]);
    if (wf.generation !== d.generation)
      throw new UnrecoverableError(`workflow ${wf.workflowId} was retried since: this job is superseded`);
    if (wf.state !== 'running') throw new UnrecoverableError(`workflow ${wf.workflowId} is ${wf.state}`);
    const answered = runs.find(
      (r) =>
        r.node === d.node && r.round === d.round && r.generation === d.generation && r.state === 'succeeded',
    )?.answer;
    if (answered) {
      // delivered again after it answered (its worker died before BullMQ heard): the answer stands
      await this.advance(wf, d, answered);
      return answered;
    }
    let lease: WorkspaceLease | undefined;
    if (d.role === 'implementer') {
      lease = await this.locks.acquire(wf.cwd, `${d.workflowId}.r${d.round}`);
      if (!lease) {
        // another workflow's implementer has the folder: wait without holding a worker
        await job.moveToDelayed(Date.now() + LOCK_RETRY_MS, token);
        throw new DelayedError();
      }
    }
    try {
      return await this.execute(job, wf, runs, lease, token);
    } finally {
      if (lease) await this.locks.release(lease).catch(() => undefined);
    }
  }

  private async execute(
    job: Job<RoleJobData>,
    wf: Workflow,
    runs: RoleRun[],
    lease: WorkspaceLease | undefined,
    token: string | undefined,
  ): Promise<RoleAnswer> {
    const d = job.data;
    const { workflows, agents } = this.settings;
    const testCommand = d.role === 'tester' ? workflows.testCommand : undefined;
    const model = modelFor(workflows.roleModels, d.role, job.attemptsMade, agents.model);
    const { inputs, drafts } = await this.inputs(wf, d, runs);
    if (d.node === 'consensus' && drafts === 0) {
      await this.fail(wf.workflowId, d, 'every drafter failed: the consensus has no draft to work from');
      throw new UnrecoverableError('every drafter failed');
    }

    const instructions = testCommand ? Promise.resolve('') : this.instructionsOf(d.role);
    let claimed: { attempt: number; orphan?: { pid: number | null; host: string | null } } | undefined;
    await this.ledger.commit(
      d.workflowId,
      async (_w, tx) => {
        claimed = await this.repo.startRoleRun(
          tx,
          { ...d, model: testCommand ? null : model },
          this.clock.now(),
        );
        return {
          node: d.node,
          phaseStatus: 'in_progress',
          detail: claimed.attempt > 1 ? `attempt ${claimed.attempt}` : 'started',
        };
      },
      ['running'],
    );
    if (!claimed) throw new UnrecoverableError(`workflow ${d.workflowId} is no longer running`);
    const { attempt, orphan } = claimed;
    if (orphan?.pid && orphan.host === hostname()) signalGroup(orphan.pid, 'SIGKILL'); // a dead worker's process
    const key: RoleRunKey = { workflowId: d.workflowId, node: d.node, round: d.round, attempt };

    const prompt = testCommand
      ? undefined
      : buildPrompt({
          instructions: await instructions,
          description: wf.description,
          guidance: wf.guidance,
          round: d.round,
          inputs,
          notes: d.node === 'consensus' ? wf.notes : [],
          maxChars: workflows.promptMaxChars,
        });

    // the implementer keeps its lease alive while it works; a lease lost (Redis away too long) ends the work
    let lockLost = false;
    const renewal =
      lease &&
      setInterval(
        () => {
          void this.locks.renew(lease).then(
            (held) => {
              if (!held && !lockLost) {
                lockLost = true;
                this.executor.cancel(d.workflowId);
              }
            },
            () => undefined, // Redis away: the next renewal tries again, within the lease
          );
        },
        Math.max(250, Math.floor(this.locks.leaseMs / 3)),
      );

    const sink = new LogSink(
      this.publisher,
      this.bus.subjects.logs(d.workflowId),
      {
        build_id: d.workflowId,
        seq: d.round,
        attempt,
        role: d.role,
        task_id: null,
        step_id: `round-${d.round}`,
        action_id: d.node,
      },
      { maxChars: agents.logLineMaxChars, perSecond: agents.logLinesPerSecond },
      undefined,
      `${d.workflowId}.g${d.generation}.r${d.round}.${d.node}.${attempt}`,
    );
    let stdout = '';
    let output = '';
    const started = performance.now();
    const result = await this.executor
      .execute({
        key: d.workflowId,
        command: testCommand ?? agents.command,
        login: false,
        cwd: wf.cwd,
        env: {
          ...allowlistedEnvironment(process.env, agents.envAllow),
          GUARDKIT_BUILD_ID: d.workflowId,
          GUARDKIT_ROLE: d.role,
          GUARDKIT_NODE: d.node,
          GUARDKIT_ROUND: String(d.round),
          GUARDKIT_ATTEMPT: String(attempt),
          AUTOAPPDEV_CODEX_MODEL: model,
          AUTOAPPDEV_CODEX_REASONING: agents.reasoning,
        },
        stdin: prompt,
        timeoutMs: agents.timeoutMs,
        silenceMs: agents.silenceMs,
        killGraceMs: agents.killGraceMs,
        onSpawn: (pid) => this.repo.recordPid(key, pid, hostname()),
        onLine: (stream, line) => {
          if (stream === 'stdout') stdout = tail(`${stdout}${line}\n`, OUTPUT_KEEP_CHARS);
          output = tail(`${output}${line}\n`, OUTPUT_KEEP_CHARS);
          sink.write(stream, line);
        },
      })
      .finally(() => clearInterval(renewal));
    const seconds = (performance.now() - started) / 1000;

    if (result.outcome === 'interrupted') {
      this.metrics.roleEnded(d.role, 'interrupted', seconds);
      // the orchestrator is stopping: run again by the next worker, without counting an attempt
      await this.end(key, d, { state: 'interrupted', answer: null, exitCode: null, detail: result.detail });
      sink.write('runner', `[guardkit] ${d.node}: interrupted (${result.detail ?? 'shutdown'})`);
      await sink.close();
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (result.outcome === 'cancelled' && !lockLost) {
      this.metrics.roleEnded(d.role, 'cancelled', seconds);
      await this.end(key, d, { state: 'cancelled', answer: null, exitCode: null, detail: result.detail });
      await sink.close();
      throw new UnrecoverableError(`workflow ${d.workflowId} was cancelled`);
    }

    let answer: RoleAnswer | undefined;
    let why: string;
    if (lockLost) {
      why = 'lost the workspace lock (its lease lapsed): its change is not recorded';
    } else if (testCommand && result.outcome === 'exited') {
      answer = {
        status: result.exitCode === 0 ? 'OK' : 'CHANGES_REQUESTED',
        summary: `the test command exited with ${result.exitCode}`,
        details: tail(output, TEST_DETAILS_CHARS),
      };
      why = '';
    } else if (result.outcome === 'exited' && result.exitCode === 0) {
      answer = parseRoleAnswer(stdout);
      why = 'no answer: the output holds no {"status", "summary", "details"} object';
    } else {
      why = result.detail ?? `exited with ${result.exitCode ?? `signal ${result.signal ?? '?'}`}`;
    }
    if (answer && lease && !(await this.locks.renew(lease).catch(() => false))) {
      answer = undefined;
      why = 'lost the workspace lock before its change was recorded';
    }
    sink.write(
      'runner',
      answer
        ? `[guardkit] ${d.node}: ${answer.status}: ${answer.summary}`
        : `[guardkit] ${d.node}: failed (${why})`,
    );
    await sink.close();

    this.metrics.roleEnded(d.role, answer ? 'succeeded' : 'failed', seconds);
    if (!answer) {
      await this.failedAttempt(job, wf, key, result.exitCode, why, output);
      throw new RoleAttemptFailedError(`${d.node} (round ${d.round}, attempt ${attempt}): ${why}`);
    }
    const diff = d.role === 'implementer' ? await diffSince(wf.cwd, wf.baseCommit) : undefined;
    const now = this.clock.now();
    const { wf: recorded, applied } = await this.ledger.commit(
      d.workflowId,
      async (w, tx) => {
        const ended = await this.repo.finishRoleRun(
          tx,
          key,
          { state: 'succeeded', answer, exitCode: result.exitCode, detail: null },
          now,
        );
        if (!ended) return null;
        await this.repo.putArtifact(
          tx,
          w.workflowId,
          `r${d.round}-${d.node}.json`,
          'application/json',
          `${JSON.stringify(answer, null, 2)}\n`,
          now,
        );
        if (diff) {
          await this.repo.putArtifact(tx, w.workflowId, `r${d.round}.diff`, 'text/x-diff', diff.patch, now);
          w.metrics = { ...w.metrics, files_created: diff.created, files_modified: diff.modified };
        }
        if (testCommand) {
          await this.repo.putArtifact(tx, w.workflowId, `r${d.round}-tester.log`, 'text/plain', output, now);
          w.metrics = { ...w.metrics, tests_total: 1, tests_passed: answer.status === 'OK' ? 1 : 0 };
        }
        return { node: d.node, phaseStatus: 'completed', detail: `answered ${answer.status}` };
      },
      ['running'],
    );
    if (!applied) throw new UnrecoverableError(`workflow ${d.workflowId} is no longer running`);
    await this.advance(recorded, d, answer);
    return answer;
  }

  /** Ends an execution that gave no answer; on its last attempt the workflow fails (a drafter only notes it). */
  private async failedAttempt(
    job: Job<RoleJobData>,
    wf: Workflow,
    key: RoleRunKey,
    exitCode: number | null,
    why: string,
    output: string,
  ): Promise<void> {
    const d = job.data;
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const attempts = job.opts.attempts ?? 1;
    const now = this.clock.now();
    await this.ledger.commit(
      d.workflowId,
      async (w, tx) => {
        await this.repo.finishRoleRun(tx, key, { state: 'failed', answer: null, exitCode, detail: why }, now);
        await this.repo.putArtifact(
          tx,
          w.workflowId,
          `r${d.round}-${d.node}.a${key.attempt}.raw.txt`,
          'text/plain',
          output,
          now,
        );
        if (!last)
          return {
            node: d.node,
            phaseStatus: 'in_progress',
            detail: `attempt ${key.attempt} failed (${why}); retrying`,
          };
        if (nodeOf(d.node).stage === 0) {
          w.notes = [
            ...w.notes,
            `${d.node} failed after ${attempts} attempts (${why}); the consensus proceeds without its draft`,
          ];
          return { node: d.node, phaseStatus: 'failed', detail: why };
        }
        w.state = 'failed';
        w.failure = {
          node: d.node,
          round: d.round,
          reason: `${d.node} failed after ${attempts} attempts: ${why}`,
        };
        w.finishedAt = now;
        return { node: d.node, phaseStatus: 'failed', detail: why };
      },
      ['running'],
    );
    if (last)
      this.logger.warn({ workflow_id: wf.workflowId, node: d.node, reason: why }, 'a workflow role failed');
  }

  /** What an answer means for the workflow: a block fails it; the reviewer approves, asks for a round, or runs out. */
  private async advance(wf: Workflow, d: RoleJobData, answer: RoleAnswer): Promise<void> {
    const { maxReviewRounds } = this.settings.workflows;
    if (answer.status === 'BLOCKED') {
      await this.fail(wf.workflowId, d, `${d.node} is blocked: ${answer.summary}`);
      throw new UnrecoverableError(`${d.node} answered BLOCKED`);
    }
    if (d.role !== 'reviewer') return;
    if (answer.status === 'OK') {
      await this.ledger.commit(
        wf.workflowId,
        (w) => {
          w.state = 'completed';
          w.finishedAt = this.clock.now();
          return { node: 'reviewer', phaseStatus: 'completed', detail: 'approved' };
        },
        ['running'],
      );
      return;
    }
    if (d.round >= maxReviewRounds) {
      await this.fail(
        wf.workflowId,
        d,
        `review rounds exhausted: the reviewer asked for changes in all ${maxReviewRounds} rounds (last: ${answer.summary})`,
      );
      return;
    }
    const next = d.round + 1;
    await this.ledger.commit(
      wf.workflowId,
      (w) => {
        if (w.round !== d.round || w.generation !== d.generation) return null; // already moved on
        w.round = next;
        return {
          node: 'implementer',
          phaseStatus: 'in_progress',
          detail: `review round ${next}: changes requested`,
        };
      },
      ['running'],
    );
    // the job ids make this a no-op when a redelivered reviewer adds it again
    await this.queues.addFlow(
      workflowFlow(wf, nodeOf('implementer').stage, next, roleJobOptions(this.settings)),
    );
  }

  private async fail(workflowId: string, d: RoleJobData, reason: string): Promise<void> {
    await this.ledger.commit(
      workflowId,
      (w) => {
        w.state = 'failed';
        w.failure = { node: d.node, round: d.round, reason };
        w.finishedAt = this.clock.now();
        return { node: d.node, phaseStatus: 'failed', detail: reason };
      },
      ['running'],
    );
  }

  /**
   * What the roles before this one answered, oldest first: earlier rounds, then this round's earlier stages,
   * the latest answer of each; the reviewer also gets the round's diff. Read from PostgreSQL rather than the
   * children's values, since a review round's implementer has no children holding the earlier rounds.
   */
  private async inputs(
    wf: Workflow,
    d: RoleJobData,
    runs: RoleRun[],
  ): Promise<{ inputs: PromptInput[]; drafts: number }> {
    const stage = nodeOf(d.node).stage;
    const latest = new Map<string, { node: string; round: number; stage: number; answer: RoleAnswer }>();
    for (const run of runs) {
      if (run.state !== 'succeeded' || !run.answer) continue;
      const s = nodeOf(run.node).stage;
      if (!(run.round < d.round || (run.round === d.round && s < stage))) continue;
      latest.set(`${run.round}.${run.node}`, {
        node: run.node,
        round: run.round,
        stage: s,
        answer: run.answer,
      });
    }
    const ordered = [...latest.values()].sort(
      (a, b) => a.round - b.round || a.stage - b.stage || a.node.localeCompare(b.node),
    );
    const inputs: PromptInput[] = ordered.map((r) => ({
      title: `${r.node} (round ${r.round}) answered`,
      answer: r.answer,
    }));
    if (d.role === 'reviewer') {
      const diff = await this.repo.artifact(wf.workflowId, `r${d.round}.diff`);
      inputs.push({
        title: `The change of round ${d.round} (diff against ${wf.baseCommit.slice(0, 12)})`,
        text: diff?.content || '(no change)',
      });
    }
    return { inputs, drafts: ordered.filter((r) => r.stage === 0).length };
  }

  /** Records how an execution ended when nothing else changes with it (an interruption, a cancel). */
  private async end(
    key: RoleRunKey,
    d: RoleJobData,
    end: { state: 'interrupted' | 'cancelled'; answer: null; exitCode: null; detail: string | null },
  ): Promise<void> {
    await this.ledger.commit(
      d.workflowId,
      async (_w, tx) => {
        await this.repo.finishRoleRun(tx, key, end, this.clock.now());
        return null;
      },
      ['queued', 'running', 'completed', 'failed', 'cancelled'],
    );
  }
}
