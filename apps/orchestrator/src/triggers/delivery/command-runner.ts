import { execFile } from 'node:child_process';
import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '#platform';
import { DeliveryError } from './delivery.js';

/**
 * Runs the resume and spawn command templates (TRIGGER_RESUME_COMMAND, TRIGGER_SPAWN_COMMAND) with `sh -c`.
 * The trigger's values arrive as GUARDKIT_* environment variables, never pasted into the command text,
 * so a prompt cannot inject shell: a template says `codex resume --last "$GUARDKIT_PROMPT"`.
 */
@Injectable()
export class CommandRunner {
  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  run(kind: 'resume' | 'spawn', variables: Record<string, string>): Promise<Record<string, unknown>> {
    const template =
      kind === 'resume' ? this.settings.triggers.resumeCommand : this.settings.triggers.spawnCommand;
    if (template.trim() === '') {
      const variable = kind === 'resume' ? 'TRIGGER_RESUME_COMMAND' : 'TRIGGER_SPAWN_COMMAND';
      return Promise.reject(new DeliveryError('NOT_CONFIGURED', `no ${kind} command: set ${variable}`));
    }
    const timeout = this.settings.triggers.commandTimeoutMs;
    const env = { ...commandEnvironment(process.env, this.settings.triggers.commandEnv), ...variables };
    if (this.settings.triggers.tmuxSocket) env['GUARDKIT_TMUX_SOCKET'] = this.settings.triggers.tmuxSocket;
    return new Promise((resolve, reject) => {
      execFile(
        '/bin/sh',
        ['-c', template],
        { env, timeout, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => {
          const details = { command: kind, stdout: tail(stdout), stderr: tail(stderr) };
          if (!error) return resolve(details);
          const killed = (error as { killed?: boolean }).killed === true;
          reject(
            killed
              ? new DeliveryError('TIMEOUT', `the ${kind} command did not finish in ${timeout} ms`, details, {
                  cause: error,
                })
              : new DeliveryError(
                  'COMMAND_FAILED',
                  `the ${kind} command exited with ${String(error.code)}: ${tail(stderr) || error.message}`,
                  { ...details, exit_code: error.code },
                  { cause: error },
                ),
          );
        },
      );
    });
  }
}

/** What a resume or spawn command inherits from the orchestrator's environment, besides TRIGGER_COMMAND_ENV. */
const INHERITED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TERM', 'TZ', 'TMPDIR'];

/**
 * The environment of a resume or spawn command: an allowlist, never the whole of the orchestrator's, which
 * holds DATABASE_URL, REDIS_URL and secrets an agent has no business seeing. `LC_*` passes too (locale), and
 * the names in TRIGGER_COMMAND_ENV (an agent's API key, say).
 */
export function commandEnvironment(env: NodeJS.ProcessEnv, extra: readonly string[]): Record<string, string> {
  const allowed = new Set([...INHERITED, ...extra]);
  return Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] => e[1] !== undefined && (allowed.has(e[0]) || e[0].startsWith('LC_')),
    ),
  );
}

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 500 ? `…${trimmed.slice(-500)}` : trimmed;
}
