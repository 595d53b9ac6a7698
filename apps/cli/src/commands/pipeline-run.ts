import { resolve } from 'node:path';
import type { BuildStatusPayload, Envelope, LogLinePayload, PipelineCreated, PipelineView } from '#contracts';
import { GatewayClient } from '../gateway-client.js';
import { CliExit, type Output } from '../output.js';
import { readScript } from './pipeline-parse.js';

/** The exit code of a followed run: 0 completed, 1 failed, 3 cancelled (2 is a refused script or request). */
export const EXIT_BY_STATE: Record<string, number> = { completed: 0, failed: 1, cancelled: 3 };

export interface RunOptions {
  cwd: string;
  follow?: boolean;
  json?: boolean;
  url: string;
}

/** One line for a status event: where the run stands. */
export function describeStatus(s: BuildStatusPayload): string {
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

/**
 * `pipeline run <file> --cwd DIR [--follow]`: submits the script; with --follow prints its progress and its
 * output lines until it ends, and exits with the run's state (EXIT_BY_STATE).
 */
export async function pipelineRun(file: string, options: RunOptions, out: Output): Promise<void> {
  const gateway = new GatewayClient(options.url);
  const text = await readScript(file);
  const created = await gateway.call<PipelineCreated>('POST', '/pipelines', {
    script_text: text,
    cwd: resolve(options.cwd),
  });
  if (options.json && !options.follow) out.json(created);
  else
    out.warn(
      `run ${created.run_id} started in ${resolve(options.cwd)} (watch: ${options.url}/builds/${created.run_id}/events)`,
    );
  if (!options.follow) return;
  const state = await follow(gateway, created.run_id, options, out);
  if (options.json) out.json(await gateway.call<PipelineView>('GET', `/pipelines/${created.run_id}`));
  const code = EXIT_BY_STATE[state] ?? 1;
  if (code !== 0) throw new CliExit(code, `run ${created.run_id} ${state}`);
}

/** Prints a run's status changes and output lines until it ends; resolves with its final state. */
function follow(gateway: GatewayClient, runId: string, options: RunOptions, out: Output): Promise<string> {
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
