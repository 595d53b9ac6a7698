import { createHash } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import {
  type BuildStatusPayload,
  isSafeId,
  ProgressFileDto,
  SAFE_ID_PATTERN,
  toBuildStatusPayload,
  validatePlain,
} from '#contracts';

/** A progress.json is a few hundred bytes; anything this large is not one. */
export const MAX_PROGRESS_FILE_BYTES = 1024 * 1024;

/** Identifies a version of a file without reading it: a rename or a write changes it. */
export interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

export type ProgressRead =
  | { kind: 'missing' }
  | { kind: 'invalid'; stamp: FileStamp; reason: string; problems: string[]; contentSha256?: string }
  | { kind: 'valid'; stamp: FileStamp; payload: BuildStatusPayload; payloadSha256: string };

/**
 * Reads and checks one `.guardkit/autobuild/<task_id>/progress.json`. The build id comes from the file,
 * else from the task folder's name. `payloadSha256` identifies the content for deduplication; it is taken
 * over the normalised payload, so re-indenting a file does not count as a change.
 */
export async function readProgressFile(path: string, folderName: string): Promise<ProgressRead> {
  let bytes: Buffer;
  let stamp: FileStamp;
  try {
    const stats = await lstat(path);
    stamp = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
    if (!stats.isFile())
      return invalid(stamp, 'not a regular file', [`${path} is a directory, link or device`]);
    if (stats.size > MAX_PROGRESS_FILE_BYTES) {
      return invalid(stamp, 'file too large', [`${stats.size} bytes; at most ${MAX_PROGRESS_FILE_BYTES}`]);
    }
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  const contentSha256 = sha256(bytes);
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return invalid(stamp, 'not JSON', [(error as Error).message], contentSha256);
  }
  const checked = validatePlain(ProgressFileDto, document);
  if (!checked.ok)
    return invalid(stamp, 'does not match the progress.json schema', checked.problems, contentSha256);
  const file = document as ProgressFileDto & Record<string, unknown>;
  if (file.build_id === undefined && !isSafeId(folderName)) {
    return invalid(
      stamp,
      'no usable build id',
      [
        `no build_id in the file, and the folder name ${JSON.stringify(folderName)} does not match ${SAFE_ID_PATTERN.source}`,
      ],
      contentSha256,
    );
  }
  const payload = toBuildStatusPayload(file, folderName);
  return { kind: 'valid', stamp, payload, payloadSha256: sha256(JSON.stringify(payload)) };
}

function invalid(stamp: FileStamp, reason: string, problems: string[], contentSha256?: string): ProgressRead {
  return contentSha256 === undefined
    ? { kind: 'invalid', stamp, reason, problems }
    : { kind: 'invalid', stamp, reason, problems, contentSha256 };
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
