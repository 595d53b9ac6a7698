/** What a child process inherits from the orchestrator's environment, besides the names a setting adds. */
const INHERITED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TERM', 'TZ', 'TMPDIR'];

/**
 * The environment of a command the orchestrator starts (a trigger's resume or spawn command, a pipeline's
 * action, an agent): an allowlist, never the whole of the orchestrator's, which holds DATABASE_URL, REDIS_URL
 * and secrets an agent has no business seeing. `LC_*` passes too (locale), and the names in `extra`
 * (TRIGGER_COMMAND_ENV, AGENT_ENV_ALLOW: an agent's API key, say).
 */
export function allowlistedEnvironment(
  env: NodeJS.ProcessEnv,
  extra: readonly string[],
): Record<string, string> {
  const allowed = new Set([...INHERITED, ...extra]);
  return Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] => e[1] !== undefined && (allowed.has(e[0]) || e[0].startsWith('LC_')),
    ),
  );
}
