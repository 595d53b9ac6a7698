import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync, type ValidationError as ClassValidatorError } from 'class-validator';

/** ISO-8601 date and time with a zone (Z or ±hh:mm); shared by the DTOs and the JSON Schemas. */
export const ISO_DATE_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/**
 * Validates a parsed JSON document against a class-validator DTO. Unknown fields are allowed and kept
 * (the caller keeps the plain object); problems come back as readable lines such as
 * `metrics.tests_passed must be an integer number`.
 */
export function validatePlain<T extends object>(dto: ClassConstructor<T>, plain: unknown): Validated<T> {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    return { ok: false, problems: ['the document must be a JSON object'] };
  }
  const instance = plainToInstance(dto, plain);
  const errors = validateSync(instance, { forbidUnknownValues: false, validationError: { target: false } });
  if (errors.length === 0) return { ok: true, value: instance };
  return { ok: false, problems: describeValidationErrors(errors) };
}

/**
 * What a field must be before anything else about it matters: when one of these fails, it is the message
 * (`turn must be an integer number`, not also `turn must not be less than 0`).
 */
const KIND_CONSTRAINTS = [
  'isDefined',
  'isObject',
  'isString',
  'isInt',
  'isNumber',
  'isBoolean',
  'isArray',
  'isIn',
];

/**
 * class-validator's errors as readable lines, one per field with its most useful message (the kind it must
 * be, else the first rule it breaks), nested fields by their path (`force_override.reason …`).
 */
export function describeValidationErrors(errors: ClassValidatorError[], prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const constraints = error.constraints ?? {};
    const key = KIND_CONSTRAINTS.find((name) => name in constraints) ?? Object.keys(constraints)[0];
    const text = key === undefined ? undefined : constraints[key];
    const own =
      text === undefined
        ? []
        : [
            text.startsWith(error.property)
              ? `${path}${text.slice(error.property.length)}`
              : `${path}: ${text}`,
          ];
    return [...own, ...describeValidationErrors(error.children ?? [], path)];
  });
}

/** The query of an RPC method that takes no arguments. */
export class NoArguments {}
