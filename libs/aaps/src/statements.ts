import type { AapsErrorCode } from './errors.js';
import { AAPS_BLOCKS, type AapsAction, type AapsBlock, type AapsStep, type AapsTask } from './ir.js';
import { pyStrip } from './python-text.js';

/**
 * The rules for one TASK, STEP or ACTION object, in AutoAppDev's order (a script's first failing rule is the
 * error it reports). Shared by the script parser, which places a problem on a line, and the IR document
 * check, which places it on a JSON path.
 */
export class StatementProblem extends Error {
  constructor(
    readonly error: AapsErrorCode,
    readonly detail: string,
  ) {
    super(detail);
  }
}

type JsonObject = Record<string, unknown>;

const TASK_KEYS = new Set(['id', 'title', 'meta']);
const STEP_KEYS = new Set(['id', 'title', 'block', 'meta']);
const ACTION_KEYS = new Set(['id', 'kind', 'params', 'meta']);

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(obj: JsonObject, key: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || pyStrip(value) === '') {
    throw new StatementProblem('missing_or_invalid_field', `${key} must be a non-empty string`);
  }
  return value;
}

/** An optional object: absent and `null` both read as absent. */
function optionalObject(obj: JsonObject, key: string): JsonObject | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value))
    throw new StatementProblem('missing_or_invalid_field', `${key} must be an object`);
  return value;
}

function droppedKeys(obj: JsonObject, known: Set<string>): string[] {
  return Object.keys(obj).filter((key) => !known.has(key));
}

export interface Read<T> {
  node: T;
  dropped: string[];
}

export function readTask(obj: JsonObject, seenTaskIds: Set<string>): Read<AapsTask> {
  const id = requireString(obj, 'id');
  const title = requireString(obj, 'title');
  if (seenTaskIds.has(id)) throw new StatementProblem('duplicate_id', `duplicate task id: ${id}`);
  seenTaskIds.add(id);
  const meta = optionalObject(obj, 'meta');
  const node: AapsTask = { id, title, steps: [] };
  if (meta !== undefined) node.meta = meta;
  return { node, dropped: droppedKeys(obj, TASK_KEYS) };
}

export function readStep(obj: JsonObject, task: AapsTask, seenStepIds: Set<string>): Read<AapsStep> {
  const id = requireString(obj, 'id');
  const title = requireString(obj, 'title');
  const block = requireString(obj, 'block');
  if (!(AAPS_BLOCKS as readonly string[]).includes(block)) {
    throw new StatementProblem('invalid_block', `unknown STEP.block: ${block}`);
  }
  if (seenStepIds.has(id))
    throw new StatementProblem('duplicate_id', `duplicate step id in task ${task.id}: ${id}`);
  seenStepIds.add(id);
  const meta = optionalObject(obj, 'meta');
  const node: AapsStep = { id, title, block: block as AapsBlock, actions: [] };
  if (meta !== undefined) node.meta = meta;
  return { node, dropped: droppedKeys(obj, STEP_KEYS) };
}

export function readAction(obj: JsonObject, step: AapsStep, seenActionIds: Set<string>): Read<AapsAction> {
  const id = requireString(obj, 'id');
  const kind = requireString(obj, 'kind');
  const params = optionalObject(obj, 'params');
  const meta = optionalObject(obj, 'meta');
  if (seenActionIds.has(id))
    throw new StatementProblem('duplicate_id', `duplicate action id in step ${step.id}: ${id}`);
  seenActionIds.add(id);
  const node: AapsAction = { id, kind };
  if (params !== undefined) node.params = params;
  if (meta !== undefined) node.meta = meta;
  return { node, dropped: droppedKeys(obj, ACTION_KEYS) };
}
