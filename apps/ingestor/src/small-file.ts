import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';

/** Identifies a version of a file without reading it: a rename or a write changes it. */
export interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

export type SmallFileRead =
  | { kind: 'missing' }
  | { kind: 'not-regular'; stamp: FileStamp }
  | { kind: 'too-large'; stamp: FileStamp }
  | { kind: 'read'; stamp: FileStamp; bytes: Buffer };

// O_NOFOLLOW: a link is refused, not followed; O_NONBLOCK: opening a FIFO does not wait for a writer.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A regular file of at most `maxBytes`, read whole, with the stamp of the version read.
 *
 * Synchronous on purpose: the bridged files are small and local, and four system calls on the event loop cost
 * about 0.01 ms of CPU where the same work through the thread pool (fs/promises) costs about 0.2 ms, the
 * largest share of an event's cost in the ingestor (`docs/benchmarks.md`, cost per event). A progress root on
 * a network file system that hangs would stall the ingestor's loop: keep the roots on local disks.
 */
export function readSmallFile(path: string, maxBytes: number): SmallFileRead {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'ELOOP') return notRegular(path); // a symbolic link
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    const stamp = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
    if (!stats.isFile()) return { kind: 'not-regular', stamp };
    if (stats.size > maxBytes) return { kind: 'too-large', stamp };
    // One byte more than the size said, to see a file that grew since the stat.
    let bytes = Buffer.allocUnsafe(stats.size + 1);
    let length = 0;
    for (;;) {
      if (length === bytes.length) {
        if (length > maxBytes) return { kind: 'too-large', stamp };
        const larger = Buffer.allocUnsafe(Math.min(length * 2, maxBytes + 1));
        bytes.copy(larger);
        bytes = larger;
      }
      const n = readSync(fd, bytes, length, bytes.length - length, length);
      if (n === 0) break;
      length += n;
    }
    return { kind: 'read', stamp, bytes: bytes.subarray(0, length) };
  } finally {
    closeSync(fd);
  }
}

function notRegular(path: string): SmallFileRead {
  try {
    const stats = lstatSync(path);
    return { kind: 'not-regular', stamp: { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs } };
  } catch {
    return { kind: 'missing' };
  }
}
