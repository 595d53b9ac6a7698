import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { AapsIr } from '#aaps';
import { NotFoundError, type PipelineFailure, type PipelineState } from '#contracts';
import type { RunCursor, TaskItem } from './pipeline-walk.js';

export interface RunMetrics {
  tests_passed: number;
  tests_total: number;
  files_created?: number;
  files_modified?: number;
}

/** A row of `pipeline_runs`. */
export interface PipelineRun {
  runId: string;
  title: string;
  state: PipelineState;
  requested: 'pause' | 'cancel' | null;
  ir: AapsIr;
  cwd: string;
  env: Record<string, string>;
  source: string;
  runtimeDir: string;
  requestId: string | null;
  cursor: RunCursor;
  items: TaskItem[] | null;
  agentSession: string | null;
  metrics: RunMetrics;
  failure: PipelineFailure | null;
  eventSeq: number;
  /** The orchestrator replica driving it (while its lease lasts). */
  driverId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

export type ActionRunState =
  'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled' | 'interrupted';

/** A row of `pipeline_action_runs`: one execution of one action. */
export interface ActionRun {
  runId: string;
  seq: number;
  attempt: number;
  taskId: string;
  itemId: string | null;
  stepId: string;
  actionId: string;
  kind: string;
  role: string;
  state: ActionRunState;
  exitCode: number | null;
  signal: string | null;
  pid: number | null;
  /** The host its process ran on: only there can it be ended. */
  host: string | null;
  detail: string | null;
}

const RUN_COLUMNS = `run_id, title, state, requested, ir, cwd, env, source, runtime_dir, request_id, cursor, items,
  agent_session, metrics, failure, event_seq, created_at, started_at, finished_at, updated_at, driver_id`;

type Row = Record<string, unknown>;

function toRun(row: Row): PipelineRun {
  return {
    runId: row.run_id as string,
    title: row.title as string,
    state: row.state as PipelineState,
    requested: row.requested as PipelineRun['requested'],
    ir: row.ir as AapsIr,
    cwd: row.cwd as string,
    env: row.env as Record<string, string>,
    source: row.source as string,
    runtimeDir: row.runtime_dir as string,
    requestId: row.request_id as string | null,
    cursor: row.cursor as RunCursor,
    items: row.items as TaskItem[] | null,
    agentSession: row.agent_session as string | null,
    metrics: row.metrics as RunMetrics,
    failure: row.failure as PipelineFailure | null,
    eventSeq: row.event_seq as number,
    driverId: row.driver_id as string | null,
    createdAt: row.created_at as Date,
    startedAt: row.started_at as Date | null,
    finishedAt: row.finished_at as Date | null,
    updatedAt: row.updated_at as Date,
  };
}

function toActionRun(row: Row): ActionRun {
  return {
    runId: row.run_id as string,
    seq: row.seq as number,
    attempt: row.attempt as number,
    taskId: row.task_id as string,
    itemId: row.item_id as string | null,
    stepId: row.step_id as string,
    actionId: row.action_id as string,
    kind: row.kind as string,
    role: row.role as string,
    state: row.state as ActionRunState,
    exitCode: row.exit_code as number | null,
    signal: row.signal as string | null,
    pid: row.pid as number | null,
    host: row.host as string | null,
    detail: row.detail as string | null,
  };
}

/**
 * TypeORM answers an UPDATE or DELETE with `[rows, count]`, not the rows: statements that need their RETURNING
 * rows are written `WITH changed AS (UPDATE … RETURNING …) SELECT … FROM changed`.
 *
 * Every SQL statement about pipeline runs, their action executions and completed meta-round items. */
@Injectable()
export class PipelineRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Inserts a run; a run with the same request id is returned instead (a create sent twice starts one run). */
  async insert(run: PipelineRun): Promise<{ run: PipelineRun; created: boolean }> {
    const rows = await this.db.query<Row[]>(
      `INSERT INTO pipeline_runs (${RUN_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, NULL)
       ON CONFLICT (request_id) DO NOTHING RETURNING ${RUN_COLUMNS}`,
      [
        run.runId,
        run.title,
        run.state,
        run.requested,
        JSON.stringify(run.ir),
        run.cwd,
        JSON.stringify(run.env),
        run.source,
        run.runtimeDir,
        run.requestId,
        JSON.stringify(run.cursor),
        run.items ? JSON.stringify(run.items) : null,
        run.agentSession,
        JSON.stringify(run.metrics),
        run.failure ? JSON.stringify(run.failure) : null,
        run.eventSeq,
        run.createdAt,
        run.startedAt,
        run.finishedAt,
        run.updatedAt,
      ],
    );
    if (rows.length > 0) return { run: toRun(rows[0]), created: true };
    const existing = await this.db.query<Row[]>(
      `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE request_id = $1`,
      [run.requestId],
    );
    return { run: toRun(existing[0]), created: false };
  }

  async get(runId: string): Promise<PipelineRun> {
    const rows = await this.db.query<Row[]>(`SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1`, [
      runId,
    ]);
    if (rows.length === 0) throw new NotFoundError(`no pipeline run ${runId}`);
    return toRun(rows[0]);
  }

  async list(state: PipelineState | undefined, limit: number): Promise<PipelineRun[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE ($1::text IS NULL OR state = $1)
       ORDER BY created_at DESC, run_id DESC LIMIT $2`,
      [state ?? null, limit],
    );
    return rows.map(toRun);
  }

  async countByState(): Promise<{ state: string; count: number }[]> {
    return this.db.query<{ state: string; count: number }[]>(
      `SELECT state, count(*)::int AS count FROM pipeline_runs GROUP BY state ORDER BY state`,
    );
  }

  /** Runs an orchestrator should be driving: after a restart it resumes them. */
  async activeRunIds(): Promise<string[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT run_id FROM pipeline_runs WHERE state IN ('queued', 'running') ORDER BY created_at`,
    );
    return rows.map((r) => r.run_id as string);
  }

  /** Runs `change` on the run locked for update, in one transaction with whatever it writes. */
  locked<T>(runId: string, change: (tx: EntityManager, run: PipelineRun) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<Row[]>(
        `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1 FOR UPDATE`,
        [runId],
      );
      if (rows.length === 0) throw new NotFoundError(`no pipeline run ${runId}`);
      return change(tx, toRun(rows[0]));
    });
  }

  async save(tx: EntityManager, run: PipelineRun): Promise<void> {
    await tx.query(
      `UPDATE pipeline_runs SET state = $2, requested = $3, cursor = $4, items = $5, agent_session = $6,
         metrics = $7, failure = $8, event_seq = $9, started_at = $10, finished_at = $11, updated_at = $12
       WHERE run_id = $1`,
      [
        run.runId,
        run.state,
        run.requested,
        JSON.stringify(run.cursor),
        run.items ? JSON.stringify(run.items) : null,
        run.agentSession,
        JSON.stringify(run.metrics),
        run.failure ? JSON.stringify(run.failure) : null,
        run.eventSeq,
        run.startedAt,
        run.finishedAt,
        run.updatedAt,
      ],
    );
  }

  async insertActionRun(
    tx: EntityManager,
    action: Omit<ActionRun, 'state' | 'exitCode' | 'signal' | 'pid' | 'host' | 'detail'>,
    at: Date,
  ): Promise<void> {
    await tx.query(
      `INSERT INTO pipeline_action_runs (run_id, seq, attempt, task_id, item_id, step_id, action_id, kind, role, state, queued_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10)`,
      [
        action.runId,
        action.seq,
        action.attempt,
        action.taskId,
        action.itemId,
        action.stepId,
        action.actionId,
        action.kind,
        action.role,
        at,
      ],
    );
  }

  async actionRun(runId: string, seq: number, attempt: number): Promise<ActionRun | undefined> {
    const rows = await this.db.query<Row[]>(
      `SELECT * FROM pipeline_action_runs WHERE run_id = $1 AND seq = $2 AND attempt = $3`,
      [runId, seq, attempt],
    );
    return rows[0] ? toActionRun(rows[0]) : undefined;
  }

  /**
   * A worker takes a queued execution: only one taking ever succeeds, so a job delivered twice (a stalled
   * job given to another worker) never starts its process twice. An execution whose run was asked to cancel
   * meanwhile is not started: it ends `cancelled` here.
   */
  async claimActionRun(
    runId: string,
    seq: number,
    attempt: number,
    at: Date,
  ): Promise<'claimed' | 'cancelled' | 'taken'> {
    const rows = await this.db.query<Row[]>(
      `WITH taken AS (UPDATE pipeline_action_runs a
         SET state = CASE WHEN r.requested = 'cancel' THEN 'cancelled' ELSE 'running' END,
             started_at = $4,
             ended_at = CASE WHEN r.requested = 'cancel' THEN $4::timestamptz END,
             detail = CASE WHEN r.requested = 'cancel' THEN 'cancelled before it started' END
       FROM pipeline_runs r
       WHERE r.run_id = a.run_id AND a.run_id = $1 AND a.seq = $2 AND a.attempt = $3 AND a.state = 'queued'
       RETURNING a.state) SELECT state FROM taken`,
      [runId, seq, attempt, at],
    );
    if (rows.length === 0) return 'taken';
    return rows[0].state === 'cancelled' ? 'cancelled' : 'claimed';
  }

  /** The process group the execution started, and its host, recorded right after the spawn (an orphan can be ended). */
  async recordPid(runId: string, seq: number, attempt: number, pid: number, host: string): Promise<void> {
    await this.db.query(
      `UPDATE pipeline_action_runs SET pid = $4, host = $5 WHERE run_id = $1 AND seq = $2 AND attempt = $3`,
      [runId, seq, attempt, pid, host],
    );
  }

  /**
   * Takes the right to drive a run for `leaseMs`: free, already this driver's, or left by a driver whose lease
   * lapsed (its replica died). Only runs that are queued or running are driven.
   */
  async claimDriver(runId: string, driverId: string, leaseMs: number): Promise<boolean> {
    const rows = await this.db.query<Row[]>(
      `WITH claimed AS (UPDATE pipeline_runs SET driver_id = $2, driver_lease_until = now() + make_interval(secs => $3::double precision / 1000)
       WHERE run_id = $1 AND state IN ('queued', 'running')
         AND (driver_id IS NULL OR driver_id = $2 OR driver_lease_until < now())
       RETURNING run_id) SELECT run_id FROM claimed`,
      [runId, driverId, leaseMs],
    );
    return rows.length > 0;
  }

  /** Renews the leases of the runs a driver drives; returns those it still holds. */
  async renewDriver(driverId: string, runIds: string[], leaseMs: number): Promise<string[]> {
    if (runIds.length === 0) return [];
    const rows = await this.db.query<Row[]>(
      `WITH renewed AS (UPDATE pipeline_runs SET driver_lease_until = now() + make_interval(secs => $3::double precision / 1000)
       WHERE driver_id = $1 AND run_id = ANY($2) RETURNING run_id) SELECT run_id FROM renewed`,
      [driverId, runIds, leaseMs],
    );
    return rows.map((r) => r.run_id as string);
  }

  async releaseDriver(runId: string, driverId: string): Promise<void> {
    await this.db.query(
      `UPDATE pipeline_runs SET driver_id = NULL, driver_lease_until = NULL WHERE run_id = $1 AND driver_id = $2`,
      [runId, driverId],
    );
  }

  /** How an execution ended; only a running one ends (an interrupted one stays interrupted). */
  async finishActionRun(
    key: { runId: string; seq: number; attempt: number },
    end: {
      state: Exclude<ActionRunState, 'queued' | 'running'>;
      exitCode: number | null;
      signal: string | null;
      detail: string | null;
    },
    at: Date,
  ): Promise<void> {
    await this.db.query(
      `UPDATE pipeline_action_runs SET state = $4, exit_code = $5, signal = $6, detail = $7, ended_at = $8
       WHERE run_id = $1 AND seq = $2 AND attempt = $3 AND state IN ('queued', 'running')`,
      [key.runId, key.seq, key.attempt, end.state, end.exitCode, end.signal, end.detail, at],
    );
  }

  async countActionRuns(runId: string): Promise<number> {
    const rows = await this.db.query<Row[]>(
      `SELECT count(*)::int AS n FROM pipeline_action_runs WHERE run_id = $1`,
      [runId],
    );
    return rows[0].n as number;
  }

  async actionRuns(runId: string): Promise<ActionRun[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT * FROM pipeline_action_runs WHERE run_id = $1 ORDER BY seq, attempt`,
      [runId],
    );
    return rows.map(toActionRun);
  }

  async completedItems(cwd: string, controllerTaskId: string): Promise<Set<string>> {
    const rows = await this.db.query<Row[]>(
      `SELECT item_id FROM pipeline_completed_items WHERE cwd = $1 AND controller_task_id = $2`,
      [cwd, controllerTaskId],
    );
    return new Set(rows.map((r) => r.item_id as string));
  }

  async markItemCompleted(
    tx: EntityManager,
    cwd: string,
    controllerTaskId: string,
    itemId: string,
    runId: string,
    at: Date,
  ): Promise<void> {
    await tx.query(
      `INSERT INTO pipeline_completed_items (cwd, controller_task_id, item_id, run_id, completed_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [cwd, controllerTaskId, itemId, runId, at],
    );
  }
}
