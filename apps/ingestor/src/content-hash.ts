import { hash } from 'node:crypto';

/**
 * The SHA-256 of a file's content or payload, in hex: what names a version for deduplication. Taken once per
 * event, so with the one-shot `crypto.hash` rather than a `Hash` stream object (createHash, update, digest).
 */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}
