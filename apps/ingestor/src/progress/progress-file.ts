import {
  type BuildStatusPayload,
  isSafeId,
  ProgressFileDto,
  SAFE_ID_PATTERN,
  toBuildStatusPayload,
  validatePlain,
} from '#contracts';
import { sha256Hex } from '../content-hash.js';
import { type FileStamp, readSmallFile } from '../small-file.js';

/** A progress.json is a few hundred bytes; anything this large is not one. */
export const MAX_PROGRESS_FILE_BYTES = 1024 * 1024;

export type ProgressRead =
  | { kind: 'missing' }
  | { kind: 'invalid'; stamp: FileStamp; reason: string; problems: string[]; contentSha256?: string }
  | { kind: 'valid'; stamp: FileStamp; payload: BuildStatusPayload; payloadSha256: string };

/**
 * Reads and checks one `.guardkit/autobuild/<task_id>/progress.json`. The build id comes from the file,
 * else from the task folder's name. `payloadSha256` identifies the content for deduplication; it is taken
 * over the normalised payload, so re-indenting a file does not count as a change.
 */
export function readProgressFile(path: string, folderName: string): ProgressRead {
  const file = readSmallFile(path, MAX_PROGRESS_FILE_BYTES);
  switch (file.kind) {
    case 'missing':
      return file;
    case 'not-regular':
      return invalid(file.stamp, 'not a regular file', [`${path} is a directory, link or device`]);
    case 'too-large':
      return invalid(file.stamp, 'file too large', [
        `${file.stamp.size} bytes; at most ${MAX_PROGRESS_FILE_BYTES}`,
      ]);
    case 'read':
      break;
  }
  const { stamp, bytes } = file;
  // (the content's own hash only names a refused version; a valid one is known by its payload's)
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return invalid(stamp, 'not JSON', [(error as Error).message], sha256Hex(bytes));
  }
  const checked = validatePlain(ProgressFileDto, document);
  if (!checked.ok)
    return invalid(stamp, 'does not match the progress.json schema', checked.problems, sha256Hex(bytes));
  const progress = document as ProgressFileDto & Record<string, unknown>;
  if (progress.build_id === undefined && !isSafeId(folderName)) {
    return invalid(
      stamp,
      'no usable build id',
      [
        `no build_id in the file, and the folder name ${JSON.stringify(folderName)} does not match ${SAFE_ID_PATTERN.source}`,
      ],
      sha256Hex(bytes),
    );
  }
  const payload = toBuildStatusPayload(progress, folderName);
  return { kind: 'valid', stamp, payload, payloadSha256: sha256Hex(JSON.stringify(payload)) };
}

function invalid(stamp: FileStamp, reason: string, problems: string[], contentSha256?: string): ProgressRead {
  return contentSha256 === undefined
    ? { kind: 'invalid', stamp, reason, problems }
    : { kind: 'invalid', stamp, reason, problems, contentSha256 };
}
