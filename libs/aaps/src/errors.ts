import { GuardkitError } from '#contracts';

/** AutoAppDev's parse error codes (SPEC 6.1). */
export type AapsErrorCode =
  | 'missing_header'
  | 'invalid_header'
  | 'invalid_statement'
  | 'unknown_keyword'
  | 'invalid_json'
  | 'invalid_json_object'
  | 'missing_or_invalid_field'
  | 'invalid_block'
  | 'duplicate_id'
  | 'step_before_task'
  | 'action_before_step'
  | 'missing_task'
  /** an annotated shell script with no `# AAPS:` line (the shell import) */
  | 'missing_annotations';

/** The wire shape of a refused script, as AutoAppDev's `POST /api/scripts/parse` answers it. */
export interface AapsErrorBody {
  ok: false;
  error: string;
  line: number;
  detail: string;
}

/**
 * A script or IR document that is not valid AAPS v1. `line` is 1-based in a script; in an IR document it is
 * 0 and `path` says where (`tasks[0].steps[1].block`).
 */
export class AapsParseError extends GuardkitError {
  readonly code = 'AAPS_PARSE_ERROR';

  constructor(
    readonly error: AapsErrorCode,
    readonly line: number,
    readonly detail: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(path ? `${path}: ${error}: ${detail}` : `line ${line}: ${error}: ${detail}`, options);
  }

  toBody(): AapsErrorBody & { path?: string } {
    return {
      ok: false,
      error: this.error,
      line: this.line,
      detail: this.detail,
      ...(this.path ? { path: this.path } : {}),
    };
  }
}

/** Codes of what a valid IR still cannot run (AutoAppDev's runner refuses these when it generates or runs). */
export type PipelinePlanErrorCode =
  | 'unknown_kind'
  | 'invalid_params'
  | 'unknown_conditional'
  | 'invalid_meta_round'
  | 'unknown_placeholder'
  | 'invalid_meta';

/** A pipeline refused before it runs, naming the task, step or action (and its line when from a script). */
export class PipelinePlanError extends GuardkitError {
  readonly code = 'PIPELINE_PLAN_ERROR';

  constructor(
    readonly error: PipelinePlanErrorCode,
    readonly where: string,
    readonly detail: string,
    readonly line?: number,
  ) {
    super(`${line ? `line ${line}: ` : ''}${where}: ${error}: ${detail}`);
  }

  toBody(): { ok: false; error: string; where: string; detail: string; line?: number } {
    return {
      ok: false,
      error: this.error,
      where: this.where,
      detail: this.detail,
      ...(this.line ? { line: this.line } : {}),
    };
  }
}

export const isAapsParseError = (error: unknown): error is AapsParseError => error instanceof AapsParseError;
export const isPipelinePlanError = (error: unknown): error is PipelinePlanError =>
  error instanceof PipelinePlanError;
