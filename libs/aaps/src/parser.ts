import { AapsParseError } from './errors.js';
import { AAPS_HEADER, type AapsIr, type AapsStep, type AapsTask, type AapsWarning } from './ir.js';
import { pyLstrip, pySplitFirst, pySplitLines, pyStrip } from './python-text.js';
import { isJsonObject, readAction, readStep, readTask, StatementProblem } from './statements.js';

export interface AapsParseResult {
  ir: AapsIr;
  warnings: AapsWarning[];
  /** The 1-based line a task, step or action of `ir` was written on. */
  lineOf: (node: object) => number | undefined;
}

/**
 * How deep JSON may nest inside a statement. CPython's parser stops near 1,000 (a RecursionError that
 * AutoAppDev reports as `invalid_json`); V8's would accept far more, and then fail later when the IR is
 * serialized, so the limit is kept.
 */
export const MAX_JSON_DEPTH = 1000;

/** AutoAppDev's limit on a script (`script_too_large` above it), in characters (code points, as Python counts). */
export const SCRIPT_MAX_CHARS = 200_000;

/** Longer than SCRIPT_MAX_CHARS as Python's `len()` counts (code points; `.length` counts UTF-16 units, never fewer). */
export function scriptTooLarge(text: string): boolean {
  return text.length > SCRIPT_MAX_CHARS && [...text].length > SCRIPT_MAX_CHARS;
}

/** `1`, `1.2`, `1.2.` (digits of any script, dots between, trailing dots allowed): shown, never checked. */
const NUMERIC_PREFIX = /^\p{Nd}+(?:\.\p{Nd}+)*\.*$/u;
const KEYWORDS = new Set(['TASK', 'STEP', 'ACTION']);

function isCommentOrBlank(line: string): boolean {
  const stripped = pyStrip(line);
  return stripped === '' || stripped.startsWith('#');
}

/** Splits `[prefix] KEYWORD json` into the keyword and the JSON text, or undefined for one word alone. */
function splitStatement(stripped: string): [string, string] | undefined {
  const first = pySplitFirst(stripped);
  if (first.length === 2 && NUMERIC_PREFIX.test(first[0])) {
    const rest = pySplitFirst(first[1]);
    if (rest.length === 2 && KEYWORDS.has(rest[0])) return [rest[0], pyStrip(rest[1])];
  }
  if (first.length !== 2) return undefined;
  return [first[0], pyStrip(first[1])];
}

function nestingDepth(value: unknown): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_JSON_DEPTH) return deepest;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return deepest;
}

function parseJson(text: string, line: number): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AapsParseError('invalid_json', line, `failed to parse JSON object: ${reason}`, undefined, {
      cause: error,
    });
  }
  if (nestingDepth(value) > MAX_JSON_DEPTH) {
    throw new AapsParseError(
      'invalid_json',
      line,
      `failed to parse JSON object: nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  return value;
}

/**
 * Parses an AAPS v1 script into AutoAppDev's IR, with AutoAppDev's rules, error codes and line numbers
 * (`backend/pipeline_parser.py`, `parse_aaps_v1`). Throws `AapsParseError` at the first problem and nothing
 * else. Keys the IR has no place for are dropped, as there, and listed in `warnings`.
 */
export function parseAaps(input: string): AapsParseResult {
  const text = input.replace(/^\ufeff+/, '');
  const lines = pySplitLines(text);

  let headerLine = 0;
  for (let index = 0; index < lines.length; index++) {
    if (isCommentOrBlank(lines[index])) continue;
    headerLine = index + 1;
    break;
  }
  if (headerLine === 0) throw new AapsParseError('missing_header', 1, `expected header: ${AAPS_HEADER}`);
  if (pyStrip(lines[headerLine - 1]) !== AAPS_HEADER) {
    throw new AapsParseError('invalid_header', headerLine, `expected header: ${AAPS_HEADER}`);
  }

  const ir: AapsIr = { kind: 'autoappdev_ir', version: 1, tasks: [] };
  const warnings: AapsWarning[] = [];
  const lineOf = new WeakMap<object, number>();
  const taskIds = new Set<string>();
  const stepIds = new Map<AapsTask, Set<string>>();
  const actionIds = new Map<AapsStep, Set<string>>();
  let task: AapsTask | undefined;
  let step: AapsStep | undefined;

  for (let index = headerLine; index < lines.length; index++) {
    const line = index + 1;
    const raw = lines[index];
    if (isCommentOrBlank(raw)) continue;
    const statement = splitStatement(pyLstrip(raw));
    if (!statement) {
      throw new AapsParseError(
        'invalid_statement',
        line,
        'expected: KEYWORD <json-object> (optional numeric prefix allowed)',
      );
    }
    const [keyword, json] = statement;
    if (!KEYWORDS.has(keyword))
      throw new AapsParseError('unknown_keyword', line, `unknown keyword: ${keyword}`);
    const obj = parseJson(json, line);
    if (!isJsonObject(obj))
      throw new AapsParseError('invalid_json_object', line, 'statement JSON must be an object');

    try {
      if (keyword === 'TASK') {
        const read = readTask(obj, taskIds);
        task = read.node;
        step = undefined;
        ir.tasks.push(task);
        stepIds.set(task, new Set());
        lineOf.set(task, line);
        warnings.push(...dropWarnings(read.dropped, line, `TASK ${task.id}`));
      } else if (keyword === 'STEP') {
        if (!task) throw new AapsParseError('step_before_task', line, 'STEP must appear after a TASK');
        const read = readStep(obj, task, stepIds.get(task)!);
        step = read.node;
        task.steps.push(step);
        actionIds.set(step, new Set());
        lineOf.set(step, line);
        warnings.push(...dropWarnings(read.dropped, line, `STEP ${task.id}/${step.id}`));
      } else {
        if (!task || !step)
          throw new AapsParseError('action_before_step', line, 'ACTION must appear after a STEP');
        const read = readAction(obj, step, actionIds.get(step)!);
        step.actions.push(read.node);
        lineOf.set(read.node, line);
        warnings.push(...dropWarnings(read.dropped, line, `ACTION ${task.id}/${step.id}/${read.node.id}`));
      }
    } catch (error) {
      if (error instanceof StatementProblem) throw new AapsParseError(error.error, line, error.detail);
      throw error;
    }
  }

  if (ir.tasks.length === 0)
    throw new AapsParseError('missing_task', headerLine, 'expected at least one TASK');
  return { ir, warnings, lineOf: (node) => lineOf.get(node) };
}

export function dropWarnings(keys: readonly string[], line: number, where: string): AapsWarning[] {
  return keys.map((key) => ({
    code: 'dropped_key',
    line,
    where,
    key,
    detail: `${where}: unknown key "${key}" dropped`,
  }));
}
