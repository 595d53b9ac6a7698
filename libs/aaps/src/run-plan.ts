import { PipelinePlanError } from './errors.js';
import type { AapsAction, AapsIr, AapsStep, AapsTask } from './ir.js';
import { isJsonObject } from './statements.js';

export const ACTION_KINDS = ['note', 'run', 'codex_exec'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];
export const STEP_CONDITIONALS = ['on_debug_failure'] as const;

/** The keys `{{ key }}` may name in `run.cmd` and `codex_exec.prompt` (AutoAppDev's runner, strict). */
export const PLACEHOLDER_KEYS = [
  'runtime_dir',
  'task.id',
  'task.title',
  'task.acceptance',
  'step.id',
  'step.title',
  'step.block',
  'action.id',
  'action.kind',
] as const;
export type PlaceholderKey = (typeof PLACEHOLDER_KEYS)[number];
const PLACEHOLDER = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** A meta-round: the controller's steps run, then the template task once per item of the task list. */
export interface MetaRoundPlan {
  controller: AapsTask;
  template: AapsTask;
  taskListPath: string;
  /** At most this many items of the list run (AutoAppDev's `task_limit`); undefined for all. */
  taskLimit?: number;
}

export interface PipelinePlan {
  ir: AapsIr;
  metaRound?: MetaRoundPlan;
}

type Locate = (node: object) => number | undefined;

/**
 * Checks what AutoAppDev's generated runner would refuse only while generating or running (an unknown action
 * kind, a missing `params.cmd`, an unknown step conditional, a meta-round without its template task, an
 * unknown placeholder), so a run is refused when it is submitted, naming the task, step or action and its
 * line, instead of failing halfway.
 */
export function planPipeline(ir: AapsIr, lineOf: Locate = () => undefined): PipelinePlan {
  const refuse = (node: object, where: string, error: PipelinePlanError['error'], detail: string): never => {
    throw new PipelinePlanError(error, where, detail, lineOf(node));
  };

  for (const task of ir.tasks) {
    const acceptance = task.meta?.acceptance;
    if (acceptance !== undefined && acceptance !== null && typeof acceptance !== 'string') {
      refuse(task, `task ${task.id}`, 'invalid_meta', 'meta.acceptance must be a string');
    }
    for (const step of task.steps) checkStep(task, step, refuse);
  }
  return { ir, metaRound: planMetaRound(ir, refuse) };
}

type Refuse = (node: object, where: string, error: PipelinePlanError['error'], detail: string) => never;

function checkStep(task: AapsTask, step: AapsStep, refuse: Refuse): void {
  const where = `task ${task.id} / step ${step.id}`;
  const conditional = step.meta?.conditional;
  if (conditional !== undefined && conditional !== null) {
    if (typeof conditional !== 'string')
      refuse(step, where, 'unknown_conditional', 'meta.conditional must be a string');
    if (conditional !== '' && !(STEP_CONDITIONALS as readonly string[]).includes(conditional)) {
      refuse(
        step,
        where,
        'unknown_conditional',
        `unknown step conditional: ${conditional} (known: ${STEP_CONDITIONALS.join(', ')})`,
      );
    }
  }
  for (const action of step.actions) checkAction(`${where} / action ${action.id}`, action, refuse);
}

function checkAction(where: string, action: AapsAction, refuse: Refuse): void {
  const params = action.params ?? {};
  const text = (key: string, optional = false): string | undefined => {
    const value = params[key];
    if (optional && (value === undefined || value === null)) return undefined;
    if (typeof value !== 'string' || (optional && value === '')) {
      refuse(
        action,
        where,
        'invalid_params',
        `params.${key} must be a ${optional ? 'non-empty ' : ''}string for a ${action.kind} action`,
      );
    }
    return value;
  };
  switch (action.kind) {
    case 'note':
      text('text');
      return;
    case 'run':
      checkPlaceholders(text('cmd')!, where, action, refuse);
      return;
    case 'codex_exec':
      checkPlaceholders(text('prompt')!, where, action, refuse);
      text('model', true);
      text('reasoning', true);
      return;
    default:
      refuse(
        action,
        where,
        'unknown_kind',
        `unknown action kind: ${action.kind} (known: ${ACTION_KINDS.join(', ')})`,
      );
  }
}

function checkPlaceholders(text: string, where: string, action: AapsAction, refuse: Refuse): void {
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (!(PLACEHOLDER_KEYS as readonly string[]).includes(match[1].trim())) {
      refuse(
        action,
        where,
        'unknown_placeholder',
        `unknown placeholder key: ${match[1].trim()} (known: ${PLACEHOLDER_KEYS.join(', ')})`,
      );
    }
  }
}

function planMetaRound(ir: AapsIr, refuse: Refuse): MetaRoundPlan | undefined {
  let controller: AapsTask | undefined;
  let template: AapsTask | undefined;
  for (const task of ir.tasks) {
    const round = task.meta?.meta_round_v0;
    if (round !== undefined && round !== null) {
      if (!isJsonObject(round))
        refuse(task, `task ${task.id}`, 'invalid_meta_round', 'meta.meta_round_v0 must be an object');
      if (controller)
        refuse(
          task,
          `task ${task.id}`,
          'invalid_meta_round',
          'more than one task defines meta.meta_round_v0',
        );
      controller = task;
    }
    const marker = task.meta?.task_template_v0;
    if (marker !== undefined && marker !== null && marker !== false) {
      if (marker !== true && !isJsonObject(marker)) {
        refuse(
          task,
          `task ${task.id}`,
          'invalid_meta_round',
          'meta.task_template_v0 must be true or an object',
        );
      }
      if (template)
        refuse(
          task,
          `task ${task.id}`,
          'invalid_meta_round',
          'more than one task defines meta.task_template_v0',
        );
      template = task;
    }
  }
  if (!controller && !template) return undefined;
  const first = (controller ?? template)!;
  if (!controller)
    refuse(
      first,
      `task ${first.id}`,
      'invalid_meta_round',
      'a template task (meta.task_template_v0) needs a controller task (meta.meta_round_v0)',
    );
  if (!template) {
    refuse(
      controller,
      `task ${controller.id}`,
      'invalid_meta_round',
      'a meta-round needs a template task (meta.task_template_v0: true) to run once per item of its task list',
    );
  }
  if (ir.tasks.length !== 2) {
    refuse(
      controller,
      `task ${controller.id}`,
      'invalid_meta_round',
      `a meta-round pipeline has exactly 2 tasks (controller and template), not ${ir.tasks.length}`,
    );
  }
  const config = controller.meta!.meta_round_v0 as Record<string, unknown>;
  const path = config.task_list_path;
  if (typeof path !== 'string' || path === '') {
    refuse(
      controller,
      `task ${controller.id}`,
      'invalid_meta_round',
      'meta.meta_round_v0.task_list_path must be a non-empty string',
    );
  }
  const limit = config.task_limit;
  if (limit !== undefined && limit !== null && !(Number.isInteger(limit) && (limit as number) > 0)) {
    refuse(
      controller,
      `task ${controller.id}`,
      'invalid_meta_round',
      'meta.meta_round_v0.task_limit must be a positive integer',
    );
  }
  return {
    controller,
    template,
    taskListPath: path,
    taskLimit: (limit as number | null | undefined) ?? undefined,
  };
}

/** Fills `{{ key }}` placeholders; throws naming the first unknown key (a run fails on it, as AutoAppDev's). */
export function expandPlaceholders(text: string, values: Record<PlaceholderKey, string>): string {
  return text.replace(PLACEHOLDER, (_match, key: string) => {
    const name = key.trim();
    if (!Object.hasOwn(values, name))
      throw new PipelinePlanError('unknown_placeholder', 'action', `unknown placeholder key: ${name}`);
    return values[name as PlaceholderKey];
  });
}
