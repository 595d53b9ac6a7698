import type { BuildStatusPayload, Envelope, LogLinePayload } from '#contracts';
import type { GatewayClient } from '../gateway-client.js';
import type { Output } from '../output.js';

/** The exit code of a followed build: 0 completed, 1 failed, 3 cancelled (2 is a refused script or request). */
export const EXIT_BY_STATE: Record<string, number> = { completed: 0, failed: 1, cancelled: 3 };

/** One line for a status event: where the build stands (a pipeline's task and step, a workflow's stage and round). */
export function describeStatus(s: BuildStatusPayload): string {
  if (s.build_type === 'workflow') {
    const where = [
      s.wave > 0 ? `stage ${s.wave}/${s.wave_total} ${s.phase}` : '',
      `round ${s.turn}/${s.turn_max}`,
      typeof s.role_detail === 'string' ? s.role_detail : '',
    ].filter(Boolean);
    return `[${s.status} ${s.progress_pct}%] ${where.join(' · ')}`;
  }
  if (s.build_type !== 'pipeline') {
    // a GuardKit autobuild: waves of tasks, Player and Coach turns
    const where = [
      s.wave_total > 0 ? `wave ${s.wave}/${s.wave_total}` : '',
      s.turn_max > 0 ? `turn ${s.turn}/${s.turn_max}` : '',
      `${s.phase}${s.phase_status ? ` (${s.phase_status})` : ''}`,
    ].filter(Boolean);
    return `[${s.status} ${s.progress_pct}%] ${where.join(' · ')}`;
  }
  const where = [
    s.wave_total > 0 ? `task ${s.wave}/${s.wave_total} ${s.task_id}` : '',
    s.turn_max > 0 ? `step ${s.turn}/${s.turn_max} ${s.phase}` : '',
    typeof s.action_id === 'string'
      ? `action ${s.action_id} ${typeof s.action_status === 'string' ? s.action_status : ''}`
      : '',
  ].filter(Boolean);
  const state = typeof s.run_state === 'string' ? s.run_state : s.status;
  return `[${state} ${s.progress_pct}%] ${where.join(' · ')}${s.phase_status && where.length > 0 ? ` (${s.phase_status})` : ''}`;
}

/** An output line as the CLI prints it. */
export function lineText(line: LogLinePayload): string {
  return line.stream === 'runner' ? `[runner] ${line.line}` : line.line;
}

/** A build being followed: `ended` resolves with its final state once its last lines are in. */
export interface BuildFollower {
  ended: Promise<string>;
  close(): void;
}

/**
 * Follows a build's output lines and status changes until it ends and its last lines have come (they can
 * come after the end: it waits until they stop). A stream the gateway refuses fails `ended`.
 */
export function followOutput(
  gateway: GatewayClient,
  buildId: string,
  on: { line: (line: LogLinePayload) => void; status?: (status: BuildStatusPayload) => void },
): BuildFollower {
  let final: string | undefined;
  let quiet: NodeJS.Timeout | undefined;
  let settle!: { resolve: (state: string) => void; reject: (error: Error) => void };
  const ended = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  const id = encodeURIComponent(buildId);
  const close = () => {
    clearTimeout(quiet);
    logs.close();
    statuses.close();
  };
  const settleSoon = () => {
    clearTimeout(quiet);
    quiet = setTimeout(() => {
      close();
      settle.resolve(final!);
    }, 300);
  };
  const logs = gateway.stream(
    `/builds/${id}/logs`,
    (_event, data) => {
      on.line((JSON.parse(data) as Envelope<LogLinePayload>).payload);
      if (final) settleSoon();
    },
    ['log'],
  );
  const statuses = gateway.stream(
    `/builds/${id}/events`,
    (event, data) => {
      if (event === 'end') {
        final = (JSON.parse(data) as { status: string }).status;
        statuses.close();
        settleSoon();
        return;
      }
      on.status?.((JSON.parse(data) as Envelope<BuildStatusPayload>).payload);
    },
    ['status', 'reset', 'end'],
  );
  for (const stream of [logs, statuses])
    stream.onFailed = (error) => {
      close();
      settle.reject(error);
    };
  return { ended, close };
}

/** Prints a build's status changes (stderr) and output lines (stdout) until it ends; resolves with its final state. */
export function followBuild(
  gateway: GatewayClient,
  runId: string,
  options: { json?: boolean },
  out: Output,
): Promise<string> {
  return followOutput(gateway, runId, {
    line: (line) => {
      if (!options.json) out.line(lineText(line));
    },
    status: (status) => {
      if (!options.json) out.warn(describeStatus(status));
    },
  }).ended;
}
