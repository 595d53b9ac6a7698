import { resolve } from 'node:path';
import type { WorkflowCreated, WorkflowView } from '#contracts';
import { GatewayClient } from '../gateway-client.js';
import { CliExit, type Output } from '../output.js';
import { EXIT_BY_STATE, followBuild } from './follow-build.js';

export interface WorkflowStartOptions {
  cwd: string;
  guidance?: string;
  mode?: 'feature' | 'bug_hunt';
  hunters?: string;
  follow?: boolean;
  json?: boolean;
  url: string;
  token?: string;
}

/**
 * `workflow start --cwd DIR "description" [--follow]`: starts a role workflow; with --follow prints each role's
 * progress and its agents' output until it ends, and exits with its state (EXIT_BY_STATE).
 */
export async function workflowStart(
  description: string,
  options: WorkflowStartOptions,
  out: Output,
): Promise<void> {
  const gateway = new GatewayClient(options.url, options.token);
  const hunters = options.hunters === undefined ? undefined : Number(options.hunters);
  if (hunters !== undefined && !Number.isInteger(hunters))
    throw new CliExit(2, `--hunters must be a whole number`);
  const created = await gateway.call<WorkflowCreated>('POST', '/workflows', {
    description,
    cwd: resolve(options.cwd),
    ...(options.guidance ? { guidance: options.guidance } : {}),
    ...(options.mode ? { mode: options.mode } : {}),
    ...(hunters !== undefined ? { hunters } : {}),
  });
  if (options.json && !options.follow) out.json(created);
  else
    out.warn(
      `workflow ${created.workflow_id} started in ${resolve(options.cwd)} (watch: ${options.url}/workflows/${created.workflow_id})`,
    );
  if (!options.follow) return;
  const state = await followBuild(gateway, created.workflow_id, options, out);
  const view = await gateway.call<WorkflowView>('GET', `/workflows/${created.workflow_id}`);
  if (options.json) out.json(view);
  else {
    for (const role of view.roles)
      out.warn(
        `  r${role.round} ${role.node}: ${role.state}${role.attempts.length > 1 ? ` (${role.attempts.length} attempts)` : ''}`,
      );
    for (const artifact of view.artifacts.filter((a) => a.name.endsWith('.diff')))
      out.warn(`  diff: ${options.url}/workflows/${view.workflow_id}/artifacts/${artifact.name}`);
  }
  const code = EXIT_BY_STATE[state] ?? 1;
  if (code !== 0)
    throw new CliExit(
      code,
      `workflow ${created.workflow_id} ${state}${view.failure ? `: ${view.failure.reason}` : ''}`,
    );
}
