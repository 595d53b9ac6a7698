import type { FlowJob, FlowJobNode, JobsOptions } from 'bullmq';
import {
  agentQueueName,
  WORKFLOW_STAGES,
  type WorkflowMode,
  type WorkflowRole,
  type WorkflowStage,
} from '#contracts';

/** The agent-queue job name of a workflow role. */
export const WORKFLOW_ROLE_JOB = 'workflow_role';

/** What a role's job carries: which node of which round of which flow generation (a retry starts a new one). */
export interface RoleJobData {
  workflowId: string;
  node: string;
  role: WorkflowRole;
  round: number;
  generation: number;
}

/** A node of the graph: `analyst-1`, `bug_hunter-3`, `consensus`, … */
export interface RoleNode {
  node: string;
  role: WorkflowRole;
  stage: number;
}

export interface GraphShape {
  workflowId: string;
  mode: WorkflowMode;
  hunters: number;
  generation: number;
}

/** The drafters: two analysts, or N bug hunters in bug-hunt mode. */
export function draftNodes(mode: WorkflowMode, hunters: number): RoleNode[] {
  const [role, count]: [WorkflowRole, number] =
    mode === 'bug_hunt' ? ['bug_hunter', hunters] : ['analyst', 2];
  return Array.from({ length: count }, (_, i) => ({ node: `${role}-${i + 1}`, role, stage: 0 }));
}

/** The node of a name, with its role and stage. */
export function nodeOf(node: string): RoleNode {
  const draft = /^(analyst|bug_hunter)-\d+$/.exec(node);
  if (draft) return { node, role: draft[1] as WorkflowRole, stage: 0 };
  const stage = WORKFLOW_STAGES.indexOf(node as WorkflowStage);
  if (stage <= 0) throw new Error(`not a workflow node: ${node}`);
  return { node, role: node as WorkflowRole, stage };
}

/** Deterministic: the same node of the same round of the same generation is one job, however often added. */
export function roleJobId(workflowId: string, generation: number, round: number, node: string): string {
  return `${workflowId}.g${generation}.r${round}.${node}`;
}

/** The model of an execution: the role's list in order, the last once they run out; else the default. */
export function modelFor(
  roleModels: Record<string, string[]>,
  role: string,
  failedAttempts: number,
  fallback: string,
): string {
  const models = roleModels[role] ?? [];
  return models.length === 0 ? fallback : models[Math.min(failedAttempts, models.length - 1)];
}

/**
 * The flow from a stage to the reviewer of one round, as BullMQ parents and children: the reviewer is the root,
 * each stage the child of the next, so a role starts once the roles before it answered. A drafter's failure is
 * ignored by the consensus (it proceeds with the drafts it has); any other role's failure fails its parents, so
 * nothing waits on a failed role.
 */
export function workflowFlow(
  shape: GraphShape,
  fromStage: number,
  round: number,
  options: JobsOptions,
): FlowJob {
  let child: FlowJobNode[] | undefined;
  for (let stage = fromStage; stage < WORKFLOW_STAGES.length; stage++) {
    const isRoot = stage === WORKFLOW_STAGES.length - 1;
    const nodes = stage === 0 ? draftNodes(shape.mode, shape.hunters) : [nodeOf(WORKFLOW_STAGES[stage])];
    const jobs = nodes.map((n) => ({
      name: WORKFLOW_ROLE_JOB,
      queueName: agentQueueName(n.role),
      data: {
        workflowId: shape.workflowId,
        node: n.node,
        role: n.role,
        round,
        generation: shape.generation,
      } satisfies RoleJobData,
      opts: {
        ...options,
        jobId: roleJobId(shape.workflowId, shape.generation, round, n.node),
        ...(isRoot ? {} : stage === 0 ? { ignoreDependencyOnFailure: true } : { failParentOnFailure: true }),
      },
      ...(child ? { children: child } : {}),
    })) as FlowJobNode[];
    child = jobs;
  }
  return child![0];
}

/** Every job id of a flow generation up to a round (to remove them when the workflow is cancelled). */
export function flowJobIds(shape: GraphShape, rounds: number): { role: WorkflowRole; id: string }[] {
  const out: { role: WorkflowRole; id: string }[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (let stage = 0; stage < WORKFLOW_STAGES.length; stage++) {
      const nodes = stage === 0 ? draftNodes(shape.mode, shape.hunters) : [nodeOf(WORKFLOW_STAGES[stage])];
      for (const n of nodes)
        out.push({ role: n.role, id: roleJobId(shape.workflowId, shape.generation, round, n.node) });
    }
  }
  return out;
}
