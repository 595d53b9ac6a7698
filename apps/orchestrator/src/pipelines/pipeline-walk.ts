import type { AapsAction, AapsStep, AapsTask, PipelinePlan } from '#aaps';

/** One item of a meta-round's task list (`autoappdev_task_list` v0). */
export interface TaskItem {
  id: string;
  title: string;
  acceptance: string;
}

/**
 * Where a run stands, saved with every change so a resumed run goes on from here. In the `tasks` phase it
 * walks `ir.tasks` (in a meta-round, only the controller); in the `items` phase it runs the template task once
 * per item of the task list.
 */
export interface RunCursor {
  phase: 'tasks' | 'items';
  task: number;
  item: number;
  step: number;
  /** The next action of the step to run (those before it are done). */
  action: number;
  taskStarted: boolean;
  stepStarted: boolean;
  /** An action of the current debug step failed (the step goes on; the task remembers it). */
  stepFailed: boolean;
  /** The task's latest debug step failed: `on_debug_failure` steps run. */
  debugFailed: boolean;
  /** Actions executed so far (each execution's number, `seq`). */
  seq: number;
  /** The action execution in flight: its row in `pipeline_action_runs`. */
  running: { seq: number; attempt: number } | null;
}

export const START_CURSOR: RunCursor = {
  phase: 'tasks',
  task: 0,
  item: 0,
  step: 0,
  action: 0,
  taskStarted: false,
  stepStarted: false,
  stepFailed: false,
  debugFailed: false,
  seq: 0,
  running: null,
};

/** The task being walked, with the values its placeholders and progress take. */
export interface TaskContext {
  task: AapsTask;
  /** The task's id and title as run: a meta-round item's, or the task's own. */
  id: string;
  title: string;
  acceptance: string;
  item: TaskItem | null;
  /** 1-based position among the run's tasks (the controller is 1, items follow), and their count. */
  wave: number;
  waveTotal: number;
}

export type Move =
  | { type: 'start_task'; ctx: TaskContext }
  | { type: 'skip_item'; item: TaskItem }
  | { type: 'start_step'; ctx: TaskContext; step: AapsStep }
  | { type: 'skip_step'; ctx: TaskContext; step: AapsStep; conditional: string }
  | { type: 'run_action'; ctx: TaskContext; step: AapsStep; action: AapsAction }
  | { type: 'end_step'; ctx: TaskContext; step: AapsStep; failed: boolean }
  | { type: 'end_task'; ctx: TaskContext }
  | { type: 'read_task_list'; path: string }
  | { type: 'finish' };

/**
 * AutoAppDev's generated runner as a state machine (its `runner_v0.sh.tpl`, `generate_runner_from_ir.py`):
 * tasks, steps and actions in order; a failing action inside a `debug` step marks the step failed and the
 * step goes on; `on_debug_failure` steps run only after a failed debug step of the same task; a meta-round
 * runs its controller, then the template once per item, skipping items already completed. Pure: the driver
 * performs each move and saves the cursor `apply` returns.
 */
export class PipelineWalk {
  constructor(
    private readonly plan: PipelinePlan,
    private readonly items: readonly TaskItem[] | null,
    private readonly completed: ReadonlySet<string>,
  ) {}

  /** The items a meta-round runs: the list, capped by `task_limit`. */
  static capped(items: readonly TaskItem[], limit: number | undefined): TaskItem[] {
    return limit === undefined ? [...items] : items.slice(0, limit);
  }

  next(cursor: RunCursor): Move {
    const ctx = this.context(cursor);
    if (!ctx) {
      if (cursor.phase === 'tasks' && this.plan.metaRound)
        return { type: 'read_task_list', path: this.plan.metaRound.taskListPath };
      return { type: 'finish' };
    }
    if (!cursor.taskStarted) {
      if (ctx.item && this.completed.has(ctx.item.id)) return { type: 'skip_item', item: ctx.item };
      return { type: 'start_task', ctx };
    }
    const step = ctx.task.steps[cursor.step];
    if (!step) return { type: 'end_task', ctx };
    if (!cursor.stepStarted) {
      const conditional = step.meta?.conditional;
      if (conditional === 'on_debug_failure' && !cursor.debugFailed)
        return { type: 'skip_step', ctx, step, conditional };
      return { type: 'start_step', ctx, step };
    }
    const action = step.actions[cursor.action];
    if (!action) return { type: 'end_step', ctx, step, failed: step.block === 'debug' && cursor.stepFailed };
    return { type: 'run_action', ctx, step, action };
  }

  /** The cursor after a move; `actionFailed` for a `run_action` whose action failed (inside a debug step). */
  apply(cursor: RunCursor, move: Move, actionFailed = false): RunCursor {
    switch (move.type) {
      case 'start_task':
        return {
          ...cursor,
          taskStarted: true,
          debugFailed: false,
          step: 0,
          action: 0,
          stepStarted: false,
          stepFailed: false,
        };
      case 'skip_item':
        return { ...cursor, item: cursor.item + 1, taskStarted: false };
      case 'start_step':
        return { ...cursor, stepStarted: true, stepFailed: false, action: 0 };
      case 'skip_step':
        return { ...cursor, step: cursor.step + 1, stepStarted: false };
      case 'run_action':
        return {
          ...cursor,
          action: cursor.action + 1,
          stepFailed: cursor.stepFailed || actionFailed,
          running: null,
        };
      case 'end_step':
        return {
          ...cursor,
          step: cursor.step + 1,
          stepStarted: false,
          debugFailed: move.step.block === 'debug' ? move.failed : cursor.debugFailed,
        };
      case 'end_task':
        if (cursor.phase === 'items') return { ...cursor, item: cursor.item + 1, taskStarted: false };
        return { ...cursor, task: cursor.task + 1, taskStarted: false };
      case 'read_task_list':
        return { ...cursor, phase: 'items', item: 0, taskStarted: false };
      case 'finish':
        return cursor;
    }
  }

  /** The cursor to retry a failed or cancelled run from: the start of the task (or item) it stopped in. */
  static restartTask(cursor: RunCursor): RunCursor {
    return {
      ...cursor,
      taskStarted: false,
      step: 0,
      action: 0,
      stepStarted: false,
      stepFailed: false,
      running: null,
    };
  }

  context(cursor: RunCursor): TaskContext | undefined {
    const meta = this.plan.metaRound;
    const tasks = this.plan.ir.tasks;
    if (cursor.phase === 'tasks') {
      const task = meta ? (cursor.task === 0 ? meta.controller : undefined) : tasks[cursor.task];
      if (!task) return undefined;
      return {
        task,
        id: task.id,
        title: task.title,
        acceptance: typeof task.meta?.acceptance === 'string' ? task.meta.acceptance : '',
        item: null,
        wave: cursor.task + 1,
        waveTotal: meta ? 1 + (this.items?.length ?? 0) : tasks.length,
      };
    }
    const item = this.items?.[cursor.item];
    if (!meta || !item) return undefined;
    return {
      task: meta.template,
      id: item.id,
      title: item.title,
      acceptance: item.acceptance,
      item,
      wave: cursor.item + 2,
      waveTotal: 1 + (this.items?.length ?? 0),
    };
  }
}
