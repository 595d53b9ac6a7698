import { basename } from 'node:path';
import { OUTBOX_FILE_PATTERN, outboxRole, type OutboxRole, outboxTimestampNs } from '#contracts';
import { sha256Hex } from '../content-hash.js';
import { readSmallFile } from '../small-file.js';

/** Larger than this, or not a regular file, and a message file is refused. */
export const MAX_OUTBOX_FILE_BYTES = 1024 * 1024;

export interface OutboxFileName {
  name: string;
  role: OutboxRole;
  tsNs: bigint;
}

/** A name AutoAppDev would ingest, or undefined for anything else (temp files, folders, other names). */
export function parseOutboxName(name: string): OutboxFileName | undefined {
  const match = OUTBOX_FILE_PATTERN.exec(name);
  if (!match) return undefined;
  return { name, role: outboxRole(match[2]), tsNs: outboxTimestampNs(match[1] ?? '0') };
}

/** SPEC 3.2 order: by the timestamp read as s, ms, µs or ns, then by name. */
export function byOutboxOrder(a: OutboxFileName, b: OutboxFileName): number {
  if (a.tsNs !== b.tsNs) return a.tsNs < b.tsNs ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** UTF-8 with invalid bytes replaced, trimmed, cut at `maxChars` characters (code points, as Python counts). */
export function decodeOutboxContent(
  bytes: Buffer,
  maxChars: number,
): { content: string; truncated: boolean } {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).trim();
  let count = 0;
  let end = 0;
  for (const char of text) {
    if (count === maxChars) return { content: text.slice(0, end).trimEnd(), truncated: true };
    count++;
    end += char.length;
  }
  return { content: text, truncated: false };
}

/** The file name's timestamp as an ISO-8601 date, or undefined when it is out of range. */
export function isoFromNs(tsNs: bigint): string | undefined {
  const ms = Number(tsNs / 1_000_000n);
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** One message file, read and checked (no side effects): gone, refused with a reason, or its content. */
export type Prepared =
  | { kind: 'gone' }
  | { kind: 'refused'; reason: string; problems: string[] }
  | { kind: 'read'; hash: string; content: string; truncated: boolean; mtimeMs: number };

export function readOutboxFile(path: string, maxChars: number): Prepared {
  const file = readSmallFile(path, MAX_OUTBOX_FILE_BYTES);
  switch (file.kind) {
    case 'missing':
      return { kind: 'gone' }; // vanished between the listing and the read
    case 'not-regular':
      return {
        kind: 'refused',
        reason: 'not a regular file',
        problems: [`${basename(path)} is a folder, link or device`],
      };
    case 'too-large':
      return {
        kind: 'refused',
        reason: 'file too large',
        problems: [`${file.stamp.size} bytes; at most ${MAX_OUTBOX_FILE_BYTES}`],
      };
    case 'read':
      break;
  }
  const hash = sha256Hex(file.bytes);
  return { kind: 'read', hash, mtimeMs: file.stamp.mtimeMs, ...decodeOutboxContent(file.bytes, maxChars) };
}
