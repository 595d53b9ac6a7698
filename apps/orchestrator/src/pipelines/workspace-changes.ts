import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Files created and modified in a working folder that is a git repository (`git status --porcelain`:
 * untracked and added count as created, the rest as modified), for a pipeline's progress metrics; undefined
 * where the folder is not a repository or git does not answer within 5 s.
 */
export async function workspaceChanges(
  cwd: string,
): Promise<{ created: number; modified: number } | undefined> {
  try {
    const { stdout } = await run('git', ['status', '--porcelain=v1', '-z', '--untracked-files=all'], {
      cwd,
      timeout: 5000,
      maxBuffer: 16 * 1024 * 1024,
    });
    let created = 0;
    let modified = 0;
    const entries = stdout.split('\0').filter((e) => e.length > 3);
    for (const entry of entries) {
      const code = entry.slice(0, 2);
      if (code === '??' || code.includes('A')) created++;
      else modified++;
    }
    return { created, modified };
  } catch {
    return undefined;
  }
}
