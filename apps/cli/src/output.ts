/** Ends the command with this exit code, after printing `message` (if any) on stderr. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

/** Where a command writes: stdout for results, stderr for diagnostics (replaced in tests). */
export interface Output {
  line(text: string): void;
  json(value: unknown): void;
  warn(text: string): void;
}

export const processOutput: Output = {
  line: (text) => process.stdout.write(`${text}\n`),
  json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  warn: (text) => process.stderr.write(`${text}\n`),
};

/** An Output that keeps what a command wrote (for tests, and for callers that run a command in process). */
export function captureOutput(): { output: Output; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    output: {
      line: (text) => stdout.push(text),
      json: (value) => stdout.push(JSON.stringify(value)),
      warn: (text) => stderr.push(text),
    },
  };
}

const COLOURS: Record<string, number> = { completed: 32, failed: 31, cancelled: 90, running: 36, queued: 33 };

/** A state word, coloured on a terminal (never when NO_COLOR is set, nor in pipes and files). */
export function paint(state: string, tty: boolean): string {
  const colour = COLOURS[state];
  if (!tty || !colour || process.env['NO_COLOR']) return state;
  return `\u001b[${colour}m${state}\u001b[39m`;
}
