import { resolve } from 'node:path';
import type { PipelineCreated, PipelineView } from '#contracts';
import { GatewayClient } from '../gateway-client.js';
import { CliExit, type Output } from '../output.js';
import { EXIT_BY_STATE } from './follow-build.js';
import { followBuild } from './follow-build.js';
import { readScript } from './pipeline-parse.js';

export interface RunOptions {
  cwd: string;
  follow?: boolean;
  json?: boolean;
  url: string;
  token?: string;
}

/**
 * `pipeline run <file> --cwd DIR [--follow]`: submits the script; with --follow prints its progress and its
 * output lines until it ends, and exits with the run's state (EXIT_BY_STATE).
 */
export async function pipelineRun(file: string, options: RunOptions, out: Output): Promise<void> {
  const gateway = new GatewayClient(options.url, options.token);
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
  const state = await followBuild(gateway, created.run_id, options, out);
  if (options.json) out.json(await gateway.call<PipelineView>('GET', `/pipelines/${created.run_id}`));
  const code = EXIT_BY_STATE[state] ?? 1;
  if (code !== 0) throw new CliExit(code, `run ${created.run_id} ${state}`);
}
