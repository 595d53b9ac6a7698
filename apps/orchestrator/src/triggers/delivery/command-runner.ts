import { execFile } from 'node:child_process';
import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '#platform';
import { allowlistedEnvironment } from '../../agents/process-environment.js';
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
    const env = { ...allowlistedEnvironment(process.env, this.settings.triggers.commandEnv), ...variables };
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

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 500 ? `…${trimmed.slice(-500)}` : trimmed;
}
