/** AutoAppDev's pipeline IR (`autoappdev_ir` version 1), the shape `parse_aaps_v1` returns. */
export interface AapsIr {
  kind: 'autoappdev_ir';
  version: 1;
  tasks: AapsTask[];
}

export interface AapsTask {
  id: string;
  title: string;
  steps: AapsStep[];
  meta?: Record<string, unknown>;
}

export interface AapsStep {
  id: string;
  title: string;
  block: AapsBlock;
  actions: AapsAction[];
  meta?: Record<string, unknown>;
}

export interface AapsAction {
  id: string;
  kind: string;
  params?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

export const AAPS_BLOCKS = ['plan', 'work', 'debug', 'fix', 'summary', 'commit_push'] as const;
export type AapsBlock = (typeof AAPS_BLOCKS)[number];

export const AAPS_HEADER = 'AUTOAPPDEV_PIPELINE 1';

/** A key of a statement that is not part of the IR: AutoAppDev drops it silently, we drop it and say so. */
export interface AapsWarning {
  code: 'dropped_key';
  /** The 1-based line of the statement (scripts), or 0 for an IR document. */
  line: number;
  /** Where it was: `TASK t1`, `STEP t1/s1`, `ACTION t1/s1/a1`, or a JSON path for an IR document. */
  where: string;
  key: string;
  detail: string;
}
