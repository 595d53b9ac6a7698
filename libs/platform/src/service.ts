import type { INestApplicationContext } from '@nestjs/common';
import { loadSettings, SettingsError, type Settings } from './settings.js';

/**
 * The one way a service's main.ts starts: settings checked first (a bad value prints what is wrong and exits 2),
 * then shutdown hooks on SIGINT and SIGTERM so queues and connections drain.
 */
export async function runService(
  service: string,
  start: (settings: Settings) => Promise<INestApplicationContext>,
): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`${service}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  try {
    const app = await start(settings);
    app.enableShutdownHooks();
  } catch (error) {
    process.stderr.write(`${service}: failed to start: ${describe(error)}\n`);
    process.exit(1);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
