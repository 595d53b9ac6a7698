import { InvalidIdError } from './errors.js';

/** SPEC 2: an id that goes into a subject. No dots, wildcards, spaces or `..`; 1 to 128 characters. */
export const SAFE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function isSafeId(value: unknown): value is string {
  return typeof value === 'string' && SAFE_ID_PATTERN.test(value);
}

/** Returns the id unchanged, or throws an InvalidIdError that names what was wrong. */
export function assertSafeId(kind: string, value: unknown): string {
  if (isSafeId(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 140)) : typeof value;
  throw new InvalidIdError(
    `invalid ${kind} ${shown}: it must match ${SAFE_ID_PATTERN.source} (letters, digits, '_' and '-', at most 128)`,
  );
}
