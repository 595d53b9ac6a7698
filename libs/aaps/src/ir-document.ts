import { AapsParseError } from './errors.js';
import type { AapsIr, AapsStep, AapsTask, AapsWarning } from './ir.js';
import { dropWarnings, MAX_JSON_DEPTH } from './parser.js';
import { isJsonObject, readAction, readStep, readTask, StatementProblem } from './statements.js';

const IR_KEYS = new Set(['kind', 'version', 'tasks']);

function fail(path: string, error: AapsParseError['error'], detail: string): never {
  throw new AapsParseError(error, 0, detail, path);
}

function list(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, 'missing_or_invalid_field', `${path} must be an array`);
  return value;
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (!isJsonObject(value)) fail(path, 'invalid_json_object', `${path} must be an object`);
  return value;
}

function depth(value: unknown, level = 0): number {
  if (typeof value !== 'object' || value === null || level > MAX_JSON_DEPTH) return level;
  let deepest = level + 1;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depth(child, level + 1));
  return deepest;
}

/**
 * Checks an IR document given as JSON (`POST /pipelines {ir}`) with the parser's rules, so an IR is accepted
 * exactly when some script would parse to it. Errors carry a JSON path (`tasks[0].steps[1].block`) instead
 * of a line; keys the IR has no place for are dropped and listed, as the parser does.
 */
export function readIrDocument(value: unknown): { ir: AapsIr; warnings: AapsWarning[] } {
  const doc = object(value, 'ir');
  if (depth(doc) > MAX_JSON_DEPTH) fail('ir', 'invalid_json', `nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (doc.kind !== 'autoappdev_ir' || doc.version !== 1) {
    fail('ir', 'invalid_header', 'expected {"kind":"autoappdev_ir","version":1,...}');
  }
  const warnings = dropWarnings(
    Object.keys(doc).filter((key) => !IR_KEYS.has(key)),
    0,
    'ir',
  );
  const ir: AapsIr = { kind: 'autoappdev_ir', version: 1, tasks: [] };
  const taskIds = new Set<string>();
  list(doc.tasks, 'ir.tasks').forEach((rawTask, t) => {
    const taskPath = `ir.tasks[${t}]`;
    const taskObj = object(rawTask, taskPath);
    const task = read(taskPath, () => readTask(taskObj, taskIds), warnings, ['steps']);
    ir.tasks.push(task);
    const stepIds = new Set<string>();
    list(taskObj.steps ?? [], `${taskPath}.steps`).forEach((rawStep, s) => {
      const stepPath = `${taskPath}.steps[${s}]`;
      const stepObj = object(rawStep, stepPath);
      const step: AapsStep = read(stepPath, () => readStep(stepObj, task, stepIds), warnings, ['actions']);
      task.steps.push(step);
      const actionIds = new Set<string>();
      list(stepObj.actions ?? [], `${stepPath}.actions`).forEach((rawAction, a) => {
        const actionPath = `${stepPath}.actions[${a}]`;
        const actionObj = object(rawAction, actionPath);
        step.actions.push(read(actionPath, () => readAction(actionObj, step, actionIds), warnings, []));
      });
    });
  });
  if (ir.tasks.length === 0) fail('ir.tasks', 'missing_task', 'expected at least one TASK');
  return { ir, warnings };
}

function read<T extends AapsTask | AapsStep | object>(
  path: string,
  reader: () => { node: T; dropped: string[] },
  warnings: AapsWarning[],
  alsoKnown: string[],
): T {
  try {
    const { node, dropped } = reader();
    warnings.push(
      ...dropWarnings(
        dropped.filter((key) => !alsoKnown.includes(key)),
        0,
        path,
      ),
    );
    return node;
  } catch (error) {
    if (error instanceof StatementProblem) fail(path, error.error, error.detail);
    throw error;
  }
}
