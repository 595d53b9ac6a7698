import { stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { BusUnavailableError } from '#contracts';
import { type Settings, SettingsError } from './settings.js';

/** What a service needs before it starts; each is checked, and named with its setting when it is missing. */
export type Dependency = 'nats' | 'redis' | 'postgres' | 'progress-folders';

/**
 * Exit codes of a service that does not start (docs/operations.md): 2 a setting is invalid, 3 a service it
 * needs does not answer, 4 something of the machine is not there (a port in use, a missing folder), 1 any
 * other failure at start.
 */
export const EXIT_CODES = { settings: 2, dependency: 3, local: 4, other: 1 } as const;

/** A dependency that is not there: one line for the operator, and the exit code to use. */
export interface PreflightProblem {
  line: string;
  exitCode: number;
}

const CONNECT_TIMEOUT_MS = 2000;

/**
 * Checks what the service needs, all at once, before Nest starts anything that would retry forever: a TCP
 * connection to NATS, Redis and PostgreSQL (protocol errors, such as a wrong password, come from the clients
 * themselves), and the progress folders the ingestor watches. Returns the problems found, none when all is well.
 */
export async function preflight(settings: Settings, needs: Dependency[]): Promise<PreflightProblem[]> {
  const checks = needs.map(async (need): Promise<PreflightProblem[]> => {
    switch (need) {
      case 'nats': {
        const servers = settings.nats.servers.map((server) => hostPort(server, 4222));
        const answers = await Promise.all(servers.map((s) => reachable(s.host, s.port)));
        if (answers.some(Boolean)) return [];
        return [
          dependency(
            `NATS does not answer at ${settings.nats.servers.join(', ')}: start it, or set NATS_URL`,
          ),
        ];
      }
      case 'redis': {
        const { host, port } = hostPort(settings.redis.url, 6379);
        return (await reachable(host, port))
          ? []
          : [dependency(`Redis does not answer at ${host}:${port}: start it, or set REDIS_URL`)];
      }
      case 'postgres': {
        const { host, port } = hostPort(settings.database.url, 5432);
        return (await reachable(host, port))
          ? []
          : [dependency(`PostgreSQL does not answer at ${host}:${port}: start it, or set DATABASE_URL`)];
      }
      case 'progress-folders': {
        const missing = [];
        for (const root of settings.ingest.progressRoots) {
          const found = await stat(root).catch(() => undefined);
          if (!found?.isDirectory()) missing.push(root);
        }
        return missing.map((root) => ({
          line: `GUARDKIT_PROGRESS_ROOTS names ${root}, which is not a folder: create it, or change the setting`,
          exitCode: EXIT_CODES.local,
        }));
      }
    }
  });
  return (await Promise.all(checks)).flat();
}

/** One line for an error thrown while starting, naming the setting where the error says which it is. */
export function describeStartError(
  error: unknown,
  portSetting: string,
  port: number | undefined,
): PreflightProblem {
  const code = (error as { code?: unknown }).code;
  if (code === 'EADDRINUSE') {
    return {
      line: `port ${port ?? '?'} is in use by another program: stop it, or set ${portSetting}`,
      exitCode: EXIT_CODES.local,
    };
  }
  if (code === 'EACCES') {
    return {
      line: `port ${port ?? '?'} may not be opened by this user: set ${portSetting} to a port above 1023`,
      exitCode: EXIT_CODES.local,
    };
  }
  if (!(error instanceof Error)) return { line: String(error), exitCode: EXIT_CODES.other };
  if (error instanceof SettingsError) return { line: error.message, exitCode: EXIT_CODES.settings };
  // the cause only where the message does not already say it
  const cause =
    error.cause instanceof Error && !error.message.toLowerCase().includes(error.cause.message.toLowerCase())
      ? ` (cause: ${error.cause.message})`
      : '';
  // NATS answers, but not as a service needs it (no JetStream, a cluster that never formed)
  const exitCode = error instanceof BusUnavailableError ? EXIT_CODES.dependency : EXIT_CODES.other;
  return { line: `${error.message}${cause}`, exitCode };
}

function dependency(line: string): PreflightProblem {
  return { line, exitCode: EXIT_CODES.dependency };
}

/** Host and port of `nats://h:p`, `redis://u:p@h:p/0`, `postgres://u@h:p/db`, or a bare `h:p`. */
function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  try {
    const url = new URL(address.includes('://') ? address : `tcp://${address}`);
    const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    return { host, port: url.port ? Number(url.port) : defaultPort };
  } catch {
    return { host: address, port: defaultPort };
  }
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: CONNECT_TIMEOUT_MS });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
