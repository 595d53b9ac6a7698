import { execFile } from 'node:child_process';
import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '#platform';
import { type DeliveryAdapter, DeliveryError, type DeliveryTarget } from './delivery.js';

/**
 * Delivers into a tmux pane (SPEC 5): checks the pane is alive, types the text with `send-keys -l`
 * (literal: no key names are interpreted), then sends Enter. Human input is read from the attached
 * clients' `client_activity`, which tmux updates on every key a person presses.
 */
@Injectable()
export class TmuxAdapter implements DeliveryAdapter {
  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  async lastHumanInput(target: DeliveryTarget): Promise<Date | undefined> {
    let output: string;
    try {
      output = await this.tmux([
        'list-clients',
        '-t',
        exactSession(target.tmuxTarget),
        '-F',
        '#{client_activity}',
      ]);
    } catch {
      return undefined; // no server or no session: nobody is typing; delivery will say what is wrong
    }
    const latest = Math.max(0, ...output.split('\n').map((line) => Number(line.trim()) || 0));
    return latest > 0 ? new Date(latest * 1000) : undefined;
  }

  async unsentInput(target: DeliveryTarget): Promise<string | undefined> {
    let output: string;
    try {
      const [position = ''] = (
        await this.tmux([
          'display-message',
          '-p',
          '-t',
          exactTarget(target.tmuxTarget),
          '#{cursor_x} #{cursor_y}',
        ])
      ).split('\n');
      const [x, y] = position.trim().split(' ').map(Number);
      if (x === undefined || y === undefined || !Number.isInteger(x) || !Number.isInteger(y))
        return undefined;
      output = await this.tmux([
        'capture-pane',
        '-p',
        '-t',
        exactTarget(target.tmuxTarget),
        '-S',
        `${y}`,
        '-E',
        `${y}`,
      ]);
      return unsentText(output.replace(/\n$/, '').slice(0, x));
    } catch {
      return undefined; // no pane: delivery will say what is wrong
    }
  }

  async deliver(target: DeliveryTarget, text: string): Promise<Record<string, unknown>> {
    const pane = await this.tmux([
      'display-message',
      '-p',
      '-t',
      exactTarget(target.tmuxTarget),
      '#{pane_id} #{pane_dead}',
    ]);
    const [paneId = '', dead = '0'] = pane.trim().split(' ');
    // display-message prints nothing, and succeeds, for a target that does not exist
    if (paneId === '') throw new DeliveryError('TARGET_MISSING', `tmux: can't find ${target.tmuxTarget}`);
    if (dead === '1') {
      throw new DeliveryError('PANE_DEAD', `the program in tmux pane ${target.tmuxTarget} has exited`, {
        pane_id: paneId,
      });
    }
    // Into the pane resolved above, so a window that changes its active pane meanwhile gets nothing half-typed.
    if (text !== '') await this.tmux(['send-keys', '-t', paneId, '-l', '--', text]);
    await this.tmux(['send-keys', '-t', paneId, 'Enter']);
    return { pane_id: paneId, bytes: Buffer.byteLength(text) };
  }

  /** Runs tmux on the configured server; every failure comes back as a classified DeliveryError. */
  private tmux(args: string[]): Promise<string> {
    const socket = this.settings.triggers.tmuxSocket;
    const argv = socket ? ['-L', socket, ...args] : args;
    const timeout = this.settings.triggers.deliveryTimeoutMs;
    return new Promise((resolve, reject) => {
      execFile('tmux', argv, { timeout, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        reject(classifyTmuxError(error, stderr, args[0] ?? ''));
      });
    });
  }
}

/** The characters a shell or agent prompt ends with (`$ `, `# `, `> `, `% `, `❯ `, `› `, `» `, `: `). */
const PROMPT_ENDINGS = new Set(['$', '#', '>', '%', '❯', '›', '»', ':', '│', '|']);

/**
 * What a person left unsent on an input line, given the line up to the cursor: nothing when the line is empty
 * or ends in a prompt (`$ `, `› `), else the line. A heuristic (the pane's prompt is not known to us): it
 * errs towards busy, since a deferred trigger falls back to resume or spawn, while a merged one sends a
 * person's half-typed words to the agent.
 */
export function unsentText(beforeCursor: string): string | undefined {
  const line = beforeCursor.trimEnd();
  if (line === '') return undefined;
  const last = [...line].at(-1) ?? '';
  return PROMPT_ENDINGS.has(last) ? undefined : line;
}

/**
 * tmux matches session names by prefix: `-t agent1` reaches `agent10` when `agent1` is gone. `=` asks for
 * the exact name (`=name:` is the session's current pane); `$`, `@` and `%` ids are exact already.
 */
export function exactTarget(target: string): string {
  if (/^[$@%]/.test(target)) return target;
  const colon = target.indexOf(':');
  return colon < 0 ? `=${target}:` : `=${target.slice(0, colon)}${target.slice(colon)}`;
}

function exactSession(target: string): string {
  const session = target.split(':')[0] ?? target;
  return /^[$@%]/.test(session) ? session : `=${session}`;
}

export function classifyTmuxError(
  error: Error & { code?: string | number | null; killed?: boolean },
  stderr: string,
  command: string,
): DeliveryError {
  const message = stderr.trim() || error.message;
  const details = { command, stderr: message.slice(0, 500) };
  if (error.code === 'ENOENT') {
    return new DeliveryError('RUNTIME_UNAVAILABLE', 'tmux is not installed on this machine', details, {
      cause: error,
    });
  }
  if (error.killed) {
    return new DeliveryError('TIMEOUT', `tmux ${command} did not answer in time`, details, { cause: error });
  }
  if (
    /can't find|no such (session|window|pane)|no server running|error connecting to|no current/i.test(message)
  ) {
    return new DeliveryError('TARGET_MISSING', `tmux: ${message}`, details, { cause: error });
  }
  return new DeliveryError('COMMAND_FAILED', `tmux ${command} failed: ${message}`, details, { cause: error });
}
