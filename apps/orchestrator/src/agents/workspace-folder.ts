import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { ValidationError } from '#contracts';

/**
 * A build's working folder (a pipeline run's, a workflow's): an existing folder, by its real path, under one of
 * PIPELINE_WORKSPACE_ROOTS; else a ValidationError naming `cwd` and the setting.
 */
export async function workspaceFolder(cwd: string, roots: string[]): Promise<string> {
  if (!isAbsolute(cwd))
    throw new ValidationError(`cwd must be an absolute path, not ${JSON.stringify(cwd)}`, ['cwd']);
  let real: string;
  try {
    real = await realpath(cwd);
    if (!(await stat(real)).isDirectory()) throw new Error('not a folder');
  } catch {
    throw new ValidationError(`cwd ${JSON.stringify(cwd)} is not an existing folder`, ['cwd']);
  }
  for (const root of roots) {
    const realRoot = await realpath(root).catch(() => undefined);
    if (!realRoot) continue;
    const rel = relative(realRoot, real);
    if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))) return real;
  }
  throw new ValidationError(
    `cwd ${JSON.stringify(cwd)} is not under PIPELINE_WORKSPACE_ROOTS (${roots.join(', ')}); set PIPELINE_WORKSPACE_ROOTS on the orchestrator to allow it`,
    ['cwd'],
  );
}
