import type { INestApplicationContext } from '@nestjs/common';
import { type Dependency, describeStartError, EXIT_CODES, preflight } from './preflight.js';
import { loadSettings, SettingsError, type Settings } from './settings.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export interface ServiceOptions {
  /** What must answer before the service starts (checked at once, each named with its setting). */
  needs: Dependency[];
  /** The port the service listens on and the setting that sets it, for a clear message when it is taken. */
  listensOn: (settings: Settings) => { setting: string; port: number | undefined };
}

/**
 * The one way a service's main.ts starts: settings checked first (a bad value prints what is wrong and exits 2),
 * then what it needs (NATS, Redis, PostgreSQL, folders: one line each naming the address and the setting, exit
 * 3 or 4), then shutdown hooks on SIGINT and SIGTERM so queues and connections drain, with a deadline
 * (SHUTDOWN_GRACE_MS) after which the service exits anyway, whatever it was waiting for.
 */
export async function runService(
  service: string,
  start: (settings: Settings) => Promise<INestApplicationContext>,
  options: ServiceOptions,
): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`${service}: ${error.message}\n`);
      process.exit(EXIT_CODES.settings);
    }
    throw error;
  }
  const problems = await preflight(settings, options.needs);
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`${service}: ${problem.line}\n`);
    process.exit(problems[0].exitCode);
  }
  // A service is at work before its start returns (workers take jobs while later parts still start): a
  // signal in that window is held, not left to kill the process with its jobs in hand, and delivered again
  // once the shutdown hooks listen.
  let held: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => (held ??= signal);
  for (const signal of STOP_SIGNALS) process.on(signal, hold);
  try {
    const app = await start(settings);
    for (const signal of STOP_SIGNALS) process.off(signal, hold);
    app.enableShutdownHooks();
    for (const signal of STOP_SIGNALS) {
      process.once(signal, () => {
        setTimeout(() => {
          process.stderr.write(
            `${service}: still stopping after ${settings.shutdownGraceMs} ms (SHUTDOWN_GRACE_MS); exiting now\n`,
          );
          process.exit(EXIT_CODES.other);
        }, settings.shutdownGraceMs).unref();
      });
    }
    if (held) process.kill(process.pid, held);
  } catch (error) {
    const { setting, port } = options.listensOn(settings);
    const problem = describeStartError(error, setting, port);
    process.stderr.write(`${service}: failed to start: ${problem.line}\n`);
    process.exit(problem.exitCode);
  }
}
