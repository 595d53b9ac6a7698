import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GuardkitError } from '#contracts';

const run = promisify(execFile);
const GIT_TIMEOUT_MS = 60_000;
const MAX_BUFFER = 64 * 1024 * 1024;

/** A working folder git cannot answer for (not a repository, no commit yet, git failed). */
export class WorkspaceGitError extends GuardkitError {
  readonly code = 'WORKSPACE_GIT';
}

export const isWorkspaceGitError = (error: unknown): error is WorkspaceGitError =>
  error instanceof WorkspaceGitError;

/** The commit a folder's HEAD stands on: what a workflow records when it starts, and diffs against. */
export async function headCommit(cwd: string): Promise<string> {
  try {
    const { stdout } = await run('git', ['rev-parse', '--verify', 'HEAD^{commit}'], {
      cwd,
      timeout: GIT_TIMEOUT_MS,
    });
    return stdout.trim();
  } catch (error) {
    throw new WorkspaceGitError(`${cwd} is not a git repository with a commit (git rev-parse HEAD failed)`, {
      cause: error,
    });
  }
}

export interface WorkspaceDiff {
  /** `git diff` of the folder as it is now against the base commit, new and deleted files included. */
  patch: string;
  created: number;
  modified: number;
  deleted: number;
}

/**
 * The folder's change since `base`, new files included, without touching the user's index or history: every
 * file of the working tree (as `.gitignore` allows) is staged into a throwaway index, which is diffed against
 * the base commit.
 */
export async function diffSince(cwd: string, base: string): Promise<WorkspaceDiff> {
  const scratch = await mkdtemp(join(tmpdir(), 'guardkit-index-'));
  const env = { ...process.env, GIT_INDEX_FILE: join(scratch, 'index') };
  const git = (args: string[]) =>
    run('git', args, { cwd, env, timeout: GIT_TIMEOUT_MS, maxBuffer: MAX_BUFFER });
  try {
    await git(['read-tree', base]);
    await git(['add', '--all', '.']);
    const { stdout: patch } = await git(['diff', '--cached', '--binary', '--no-color', base]);
    const { stdout: names } = await git(['diff', '--cached', '--name-status', '-z', base]);
    const codes = names.split('\0').filter((_, i) => i % 2 === 0);
    return {
      patch,
      created: codes.filter((c) => c.startsWith('A')).length,
      modified: codes.filter((c) => c.startsWith('M')).length,
      deleted: codes.filter((c) => c.startsWith('D')).length,
    };
  } catch (error) {
    throw new WorkspaceGitError(`could not diff ${cwd} against ${base}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
