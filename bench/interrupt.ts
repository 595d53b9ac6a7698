import { ServiceProcess } from '#test-support';

/**
 * Ctrl-C, or SIGTERM (`timeout`, a CI job cancelled) while a benchmark runs: its services are stopped (a child
 * process outlives a parent that is killed) and `cleanup` removes its streams, database and queues, then the
 * benchmark exits 130 or 143. Without this, each interrupted run left three services running and its data on
 * the shared NATS and PostgreSQL.
 */
export function cleanUpOnInterrupt(cleanup: () => Promise<unknown>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping the benchmark's services and removing its data\n`);
      // The benchmark's own code then fails (its services are gone); that must not end the process with its
      // error, and exit code 1, before this cleanup has run and exited with the signal's code.
      const afterInterrupt = (error: unknown) =>
        process.stderr.write(`after ${signal}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.on('uncaughtException', afterInterrupt);
      process.on('unhandledRejection', afterInterrupt);
      void Promise.all([...ServiceProcess.live].map((service) => service.stop()))
        .then(cleanup)
        .catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`))
        .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}
