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
