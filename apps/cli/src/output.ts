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
