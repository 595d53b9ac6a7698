import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `--profile` on a benchmark's command line: each service it starts writes a V8 CPU profile (`--cpu-prof`) into
 * `bench-profiles/<bench>-<time>/` when it stops (open them in Chrome DevTools' Performance panel, or summarize
 * them with `node scripts/cpu-profile-top.mjs <file>`). Without it, no flag is added.
 */
export function profileArgs(bench: string): { nodeArgs: string[]; dir: string | undefined } {
  if (!process.argv.includes('--profile')) return { nodeArgs: [], dir: undefined };
  const root = fileURLToPath(new URL('../../bench-profiles/', import.meta.url));
  const dir = join(root, `${bench}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`], dir };
}
