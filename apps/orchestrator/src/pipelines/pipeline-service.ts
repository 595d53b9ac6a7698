import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  type AapsIr,
  type AapsWarning,
  isAapsParseError,
  isPipelinePlanError,
  parseAaps,
  planPipeline,
  readIrDocument,
  SCRIPT_MAX_CHARS,
  scriptTooLarge,
} from '#aaps';
import {
  CreatePipelineDto,
  InvalidPipelineError,
  InvalidTransitionError,
  isEnvName,
  ListPipelinesQuery,
  PIPELINE_COMMANDS,
  PipelineCommandQuery,
  type PipelineCreated,
  PipelineIdQuery,
  type PipelineState,
  type PipelineView,
  ValidationError,
} from '#contracts';
import { RpcServer } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { workspaceFolder } from '../agents/workspace-folder.js';
import { PipelineEngine } from './pipeline-engine.js';
import { PipelineLedger } from './pipeline-ledger.js';
import { PipelineRepository, type PipelineRun } from './pipeline-repository.js';
import { PipelineWalk, START_CURSOR } from './pipeline-walk.js';

/** A run id: sortable by creation, unique, safe in a subject. */
function newRunId(now: Date): string {
  return `run-${now.getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** SPEC 6.1 runs over `guardkit.rpc.pipelines.*`: create, list, show, and pause, resume, cancel, retry. */
@Injectable()
export class PipelineService implements OnModuleInit {
  constructor(
    private readonly repo: PipelineRepository,
    private readonly ledger: PipelineLedger,
    private readonly engine: PipelineEngine,
    private readonly rpc: RpcServer,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('pipelines.create', CreatePipelineDto, (dto) => this.create(dto));
    this.rpc.serve('pipelines.list', ListPipelinesQuery, async (q) => ({
      items: await Promise.all((await this.repo.list(q.state, q.limit ?? 50)).map((run) => this.view(run))),
    }));
    this.rpc.serve('pipelines.get', PipelineIdQuery, async (q) => this.view(await this.repo.get(q.run_id)));
    this.rpc.serve('pipelines.command', PipelineCommandQuery, (q) => this.command(q.run_id, q.command));
  }

  async create(dto: CreatePipelineDto): Promise<PipelineCreated> {
    const { ir, warnings } = this.readPipeline(dto);
    const cwd = await workspaceFolder(dto.cwd, this.settings.pipelines.workspaceRoots);
    const env = this.environment(dto.env);
    const now = this.clock.now();
    const run: PipelineRun = {
      runId: newRunId(now),
      title: dto.title ?? ir.tasks[0].title,
      state: 'queued',
      requested: null,
      ir,
      cwd,
      env,
      source: dto.source ?? 'local',
      runtimeDir: env.AUTOAPPDEV_RUNTIME_DIR
        ? resolve(cwd, env.AUTOAPPDEV_RUNTIME_DIR)
        : this.settings.ingest.runtimeDir,
      requestId: dto.request_id ?? null,
      cursor: START_CURSOR,
      items: null,
      agentSession: null,
      metrics: { tests_passed: 0, tests_total: 0 },
      failure: null,
      eventSeq: 0,
      driverId: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
    };
    const saved = (await this.repo.insert(run)).run;
    await this.engine.start(saved.runId);
    return { run_id: saved.runId, build_id: saved.runId, state: saved.state, warnings };
  }

  /** A script or an IR, parsed and checked as AutoAppDev's runner would before it runs anything. */
  private readPipeline(dto: CreatePipelineDto): { ir: AapsIr; warnings: AapsWarning[] } {
    if ((dto.script_text === undefined) === (dto.ir === undefined)) {
      throw new ValidationError(
        'give exactly one of script_text (an AAPS v1 script) and ir (an autoappdev_ir document)',
        ['script_text', 'ir'],
      );
    }
    try {
      if (dto.script_text !== undefined) {
        if (scriptTooLarge(dto.script_text)) {
          throw new InvalidPipelineError(
            `script_too_large: script_text is longer than ${SCRIPT_MAX_CHARS} characters`,
          );
        }
        const parsed = parseAaps(dto.script_text);
        planPipeline(parsed.ir, parsed.lineOf);
        return parsed;
      }
      const read = readIrDocument(dto.ir);
      planPipeline(read.ir);
      return read;
    } catch (error) {
      if (isAapsParseError(error) || isPipelinePlanError(error))
        throw new InvalidPipelineError(error.message, { cause: error });
      throw error;
    }
  }

  private environment(env: Record<string, unknown> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(env ?? {})) {
      if (!isEnvName(name))
        throw new ValidationError(`env: ${JSON.stringify(name)} is not a variable name`, ['env']);
      if (typeof value !== 'string') throw new ValidationError(`env.${name} must be a string`, ['env']);
      out[name] = value;
    }
    return out;
  }

  async command(runId: string, command: keyof typeof PIPELINE_COMMANDS): Promise<PipelineView> {
    const allowed: readonly PipelineState[] = PIPELINE_COMMANDS[command];
    const all = ['queued', 'running', 'paused', 'completed', 'failed', 'cancelled'];
    let refused: PipelineState | undefined;
    const run = await this.ledger.commit(
      runId,
      (r) => {
        if (!allowed.includes(r.state)) {
          refused = r.state;
          return null;
        }
        switch (command) {
          case 'pause':
            r.requested = 'pause';
            return null;
          case 'cancel':
            if (r.state === 'paused') {
              r.state = 'cancelled';
              r.requested = null;
              r.finishedAt = this.clock.now();
              return { note: { phaseStatus: 'failed' } };
            }
            r.requested = 'cancel';
            return null;
          case 'resume':
            r.state = 'running';
            r.requested = null;
            return null;
          case 'retry':
            r.state = 'running';
            r.requested = null;
            r.failure = null;
            r.finishedAt = null;
            r.cursor = PipelineWalk.restartTask(r.cursor);
            return null;
        }
      },
      { onlyIn: all },
    );
    if (refused)
      throw new InvalidTransitionError(
        `cannot ${command} a ${refused} run (${command} is for ${allowed.join(', ')} runs)`,
      );
    if (command === 'cancel') this.engine.cancelProcesses(runId); // on every replica: the action may run on another
    if (command === 'resume' || command === 'retry') await this.engine.start(runId);
    return this.view(run);
  }

  async view(run: PipelineRun): Promise<PipelineView> {
    const { ctx, step } = this.ledger.whereIs(run);
    const action = step && run.cursor.stepStarted ? step.actions[run.cursor.action] : undefined;
    return {
      run_id: run.runId,
      build_id: run.runId,
      title: run.title,
      state: run.state,
      requested: run.requested,
      cwd: run.cwd,
      source: run.source,
      current: {
        task_id: ctx?.id ?? null,
        task_title: ctx?.title ?? null,
        item_id: ctx?.item?.id ?? null,
        step_id: step?.id ?? null,
        step_title: step?.title ?? null,
        action_id: action?.id ?? null,
        action_kind: action?.kind ?? null,
      },
      failure: run.failure,
      actions_run: await this.repo.countActionRuns(run.runId),
      created_at: run.createdAt.toISOString(),
      started_at: run.startedAt?.toISOString() ?? null,
      finished_at: run.finishedAt?.toISOString() ?? null,
      updated_at: run.updatedAt.toISOString(),
    };
  }
}
