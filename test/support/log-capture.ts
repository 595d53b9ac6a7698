import type { Settings } from '#platform';

/** A structured log line as the services write it (pino JSON). */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/**
 * A log destination for services run in the test's process: lines at `minLevel` or above (pino: 40 warn,
 * 50 error) are kept for the test to assert on instead of being printed; the rest go to stdout as usual.
 */
export class LogCapture {
  readonly lines: LogLine[] = [];

  constructor(private readonly minLevel = 50) {}

  /** The settings with their log lines going here. */
  into(settings: Settings): Settings {
    return { ...settings, log: { ...settings.log, pretty: false, destination: this } };
  }

  write(line: string): void {
    const parsed = JSON.parse(line) as LogLine;
    if (parsed.level >= this.minLevel) this.lines.push(parsed);
    else process.stdout.write(line);
  }

  /** The kept lines whose message matches. */
  matching(pattern: RegExp): LogLine[] {
    return this.lines.filter((line) => pattern.test(line.msg));
  }
}
