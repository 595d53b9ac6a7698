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

/** Prints a build's status changes and output lines until it ends; resolves with its final state. */
export function followBuild(
  gateway: GatewayClient,
  runId: string,
  options: { json?: boolean },
  out: Output,
): Promise<string> {
  return new Promise((done) => {
    let final: string | undefined;
    let quiet: NodeJS.Timeout | undefined;
    const logs = gateway.stream(
      `/builds/${runId}/logs`,
      (_event, data) => {
        const line = (JSON.parse(data) as Envelope<LogLinePayload>).payload;
        if (!options.json) out.line(line.stream === 'runner' ? `[runner] ${line.line}` : line.line);
        if (final) settleSoon(); // the last lines come after the end: wait until they stop
      },
      ['log'],
    );
    const statuses = gateway.stream(
      `/builds/${runId}/events`,
      (event, data) => {
        if (event === 'end') {
          final = (JSON.parse(data) as { status: string }).status;
          statuses.close();
          settleSoon();
          return;
        }
        if (!options.json)
          out.warn(describeStatus((JSON.parse(data) as Envelope<BuildStatusPayload>).payload));
      },
      ['status', 'reset', 'end'],
    );
    const settleSoon = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        logs.close();
        done(final!);
      }, 300);
    };
  });
}
