import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import {
  NotFoundError,
  type RoleAnswer,
  type WorkflowFailure,
  type WorkflowMode,
  type WorkflowState,
} from '#contracts';

export interface WorkflowMetrics {
  tests_passed?: number;
  tests_total?: number;
  files_created?: number;
  files_modified?: number;
}

/** A row of `workflows`. */
export interface Workflow {
  workflowId: string;
  requestId: string | null;
  state: WorkflowState;
  mode: WorkflowMode;
  hunters: number;
  description: string;
  guidance: string | null;
  cwd: string;
  baseCommit: string;
  round: number;
  /** The flow its jobs belong to: a retry starts the next, and jobs of an older one do nothing. */
  generation: number;
  currentNode: string | null;
  failure: WorkflowFailure | null;
  notes: string[];
  metrics: WorkflowMetrics;
  eventSeq: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

export type RoleRunState = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled';

/** A row of `workflow_role_runs`: one execution of one node in one round. */
export interface RoleRun {
  workflowId: string;
  node: string;
  round: number;
  attempt: number;
  generation: number;
  role: string;
  model: string | null;
  state: RoleRunState;
  answer: RoleAnswer | null;
  exitCode: number | null;
  detail: string | null;
  pid: number | null;
  host: string | null;
  startedAt: Date;
  endedAt: Date | null;
}

export interface ArtifactInfo {
  name: string;
  contentType: string;
  bytes: number;
  createdAt: Date;
}

const COLUMNS = `workflow_id, request_id, state, mode, hunters, description, guidance, cwd, base_commit, round,
  generation, current_node, failure, notes, metrics, event_seq, created_at, started_at, finished_at, updated_at`;

type Row = Record<string, unknown>;

function toWorkflow(r: Row): Workflow {
  return {
    workflowId: r.workflow_id as string,
    requestId: r.request_id as string | null,
    state: r.state as WorkflowState,
    mode: r.mode as WorkflowMode,
    hunters: r.hunters as number,
    description: r.description as string,
    guidance: r.guidance as string | null,
    cwd: r.cwd as string,
    baseCommit: r.base_commit as string,
    round: r.round as number,
    generation: r.generation as number,
    currentNode: r.current_node as string | null,
    failure: r.failure as WorkflowFailure | null,
    notes: r.notes as string[],
    metrics: r.metrics as WorkflowMetrics,
    eventSeq: r.event_seq as number,
    createdAt: r.created_at as Date,
    startedAt: r.started_at as Date | null,
    finishedAt: r.finished_at as Date | null,
    updatedAt: r.updated_at as Date,
  };
}

function toRoleRun(r: Row): RoleRun {
  return {
    workflowId: r.workflow_id as string,
    node: r.node as string,
    round: r.round as number,
    attempt: r.attempt as number,
    generation: r.generation as number,
    role: r.role as string,
    model: r.model as string | null,
    state: r.state as RoleRunState,
    answer: r.answer as RoleAnswer | null,
    exitCode: r.exit_code as number | null,
    detail: r.detail as string | null,
    pid: r.pid as number | null,
    host: r.host as string | null,
    startedAt: r.started_at as Date,
    endedAt: r.ended_at as Date | null,
  };
}

/**
 * Every SQL statement about workflows, their role executions and artifacts. (TypeORM answers an UPDATE with
 * `[rows, count]`: statements that need RETURNING rows are written `WITH … RETURNING … SELECT`.)
 */
@Injectable()
export class WorkflowRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Inserts a workflow; one with the same request id is returned instead (a create sent twice starts one). */
  async insert(wf: Workflow): Promise<Workflow> {
    const rows = await this.db.query<Row[]>(
      `INSERT INTO workflows (${COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
       ON CONFLICT (request_id) DO NOTHING RETURNING ${COLUMNS}`,
      [
        wf.workflowId,
        wf.requestId,
        wf.state,
        wf.mode,
        wf.hunters,
        wf.description,
        wf.guidance,
        wf.cwd,
        wf.baseCommit,
        wf.round,
        wf.generation,
        wf.currentNode,
        wf.failure ? JSON.stringify(wf.failure) : null,
        JSON.stringify(wf.notes),
        JSON.stringify(wf.metrics),
        wf.eventSeq,
        wf.createdAt,
        wf.startedAt,
        wf.finishedAt,
        wf.updatedAt,
      ],
    );
    if (rows.length > 0) return toWorkflow(rows[0]);
    const existing = await this.db.query<Row[]>(`SELECT ${COLUMNS} FROM workflows WHERE request_id = $1`, [
      wf.requestId,
    ]);
    return toWorkflow(existing[0]);
  }

  async get(workflowId: string): Promise<Workflow> {
    const rows = await this.db.query<Row[]>(`SELECT ${COLUMNS} FROM workflows WHERE workflow_id = $1`, [
      workflowId,
    ]);
    if (rows.length === 0) throw new NotFoundError(`no workflow ${workflowId}`);
    return toWorkflow(rows[0]);
  }

  async list(state: WorkflowState | undefined, limit: number): Promise<Workflow[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT ${COLUMNS} FROM workflows WHERE ($1::text IS NULL OR state = $1)
       ORDER BY created_at DESC, workflow_id DESC LIMIT $2`,
      [state ?? null, limit],
    );
    return rows.map(toWorkflow);
  }

  async countByState(): Promise<{ state: string; count: number }[]> {
    return this.db.query<{ state: string; count: number }[]>(
      `SELECT state, count(*)::int AS count FROM workflows GROUP BY state ORDER BY state`,
    );
  }

  /** Runs `change` on the workflow locked for update, in one transaction with whatever it writes. */
  locked<T>(workflowId: string, change: (tx: EntityManager, wf: Workflow) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<Row[]>(
        `SELECT ${COLUMNS} FROM workflows WHERE workflow_id = $1 FOR UPDATE`,
        [workflowId],
      );
      if (rows.length === 0) throw new NotFoundError(`no workflow ${workflowId}`);
      return change(tx, toWorkflow(rows[0]));
    });
  }

  async save(tx: EntityManager, wf: Workflow): Promise<void> {
    await tx.query(
      `UPDATE workflows SET state = $2, round = $3, generation = $4, current_node = $5, failure = $6, notes = $7,
         metrics = $8, event_seq = $9, started_at = $10, finished_at = $11, updated_at = $12
       WHERE workflow_id = $1`,
      [
        wf.workflowId,
        wf.state,
        wf.round,
        wf.generation,
        wf.currentNode,
        wf.failure ? JSON.stringify(wf.failure) : null,
        JSON.stringify(wf.notes),
        JSON.stringify(wf.metrics),
        wf.eventSeq,
        wf.startedAt,
        wf.finishedAt,
        wf.updatedAt,
      ],
    );
  }

  /**
   * Records a new execution of a node (inside the caller's transaction, on the locked workflow), before its
   * process starts. An execution of the same node and round still `running` belongs to a worker that died
   * (its job was taken over): it is marked interrupted and returned, so its process can be ended.
   */
  async startRoleRun(
    tx: EntityManager,
    run: Pick<RoleRun, 'workflowId' | 'node' | 'round' | 'generation' | 'role' | 'model'>,
    at: Date,
  ): Promise<{ attempt: number; orphan: RoleRun | undefined }> {
    // one statement: the orphan marked, the next attempt number taken and inserted
    const rows = await tx.query<Row[]>(
      `WITH stopped AS (UPDATE workflow_role_runs
         SET state = 'interrupted', ended_at = $4, detail = 'its worker stopped before it ended; taken over'
         WHERE workflow_id = $1 AND node = $2 AND round = $3 AND state = 'running' RETURNING *),
       next AS (SELECT coalesce(max(attempt), 0) + 1 AS attempt FROM workflow_role_runs
         WHERE workflow_id = $1 AND node = $2 AND round = $3),
       added AS (INSERT INTO workflow_role_runs
           (workflow_id, node, round, attempt, generation, role, model, state, started_at)
         SELECT $1, $2, $3, next.attempt, $5, $6, $7, 'running', $4 FROM next RETURNING attempt)
       SELECT added.attempt, stopped.pid, stopped.host, stopped.node, stopped.round, stopped.attempt AS orphan_attempt,
         stopped.state, stopped.started_at
       FROM added LEFT JOIN stopped ON true`,
      [run.workflowId, run.node, run.round, at, run.generation, run.role, run.model],
    );
    const row = rows[0];
    return {
      attempt: row.attempt as number,
      orphan:
        row.orphan_attempt === null
          ? undefined
          : toRoleRun({ ...row, workflow_id: run.workflowId, attempt: row.orphan_attempt }),
    };
  }

  async recordPid(key: RoleRunKey, pid: number, host: string): Promise<void> {
    await this.db.query(
      `UPDATE workflow_role_runs SET pid = $5, host = $6
       WHERE workflow_id = $1 AND node = $2 AND round = $3 AND attempt = $4`,
      [key.workflowId, key.node, key.round, key.attempt, pid, host],
    );
  }

  /** How an execution ended; only a running one ends (one taken over stays interrupted). */
  async finishRoleRun(
    tx: EntityManager,
    key: RoleRunKey,
    end: {
      state: Exclude<RoleRunState, 'running'>;
      answer: RoleAnswer | null;
      exitCode: number | null;
      detail: string | null;
    },
    at: Date,
  ): Promise<boolean> {
    const rows = await tx.query<Row[]>(
      `WITH ended AS (UPDATE workflow_role_runs SET state = $5, answer = $6, exit_code = $7, detail = $8, ended_at = $9
       WHERE workflow_id = $1 AND node = $2 AND round = $3 AND attempt = $4 AND state = 'running' RETURNING node)
       SELECT node FROM ended`,
      [
        key.workflowId,
        key.node,
        key.round,
        key.attempt,
        end.state,
        end.answer ? JSON.stringify(end.answer) : null,
        end.exitCode,
        end.detail,
        at,
      ],
    );
    return rows.length > 0;
  }

  async roleRuns(workflowId: string): Promise<RoleRun[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT * FROM workflow_role_runs WHERE workflow_id = $1 ORDER BY round, started_at, node, attempt`,
      [workflowId],
    );
    return rows.map(toRoleRun);
  }

  async putArtifact(
    tx: EntityManager | undefined,
    workflowId: string,
    name: string,
    contentType: string,
    content: string,
    at: Date,
  ): Promise<void> {
    await (tx ?? this.db).query(
      `INSERT INTO workflow_artifacts (workflow_id, name, content_type, content, created_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (workflow_id, name) DO UPDATE SET content_type = $3, content = $4, created_at = $5`,
      [workflowId, name, contentType, content, at],
    );
  }

  async artifact(
    workflowId: string,
    name: string,
  ): Promise<{ contentType: string; content: string } | undefined> {
    const rows = await this.db.query<Row[]>(
      `SELECT content_type, content FROM workflow_artifacts WHERE workflow_id = $1 AND name = $2`,
      [workflowId, name],
    );
    return rows[0]
      ? { contentType: rows[0].content_type as string, content: rows[0].content as string }
      : undefined;
  }

  async artifacts(workflowId: string): Promise<ArtifactInfo[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT name, content_type, octet_length(content)::int AS bytes, created_at FROM workflow_artifacts
       WHERE workflow_id = $1 ORDER BY created_at, name`,
      [workflowId],
    );
    return rows.map((r) => ({
      name: r.name as string,
      contentType: r.content_type as string,
      bytes: r.bytes as number,
      createdAt: r.created_at as Date,
    }));
  }
}

export interface RoleRunKey {
  workflowId: string;
  node: string;
  round: number;
  attempt: number;
}
