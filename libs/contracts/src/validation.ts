import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync, type ValidationError as ClassValidatorError } from 'class-validator';

/** The published JSON Schemas (docs/schemas), which agree with their DTOs (schemas.spec.ts holds them to it). */
export const SCHEMA_DIR = fileURLToPath(new URL('../../../../docs/schemas/', import.meta.url));
const schemaFiles = new Map<ClassConstructor<object>, string>();
const compiled = new Map<ClassConstructor<object>, ValidateFunction>();
let ajv: Ajv2020 | undefined;

/**
 * Names the published JSON Schema of a DTO: `validatePlain` then accepts a document with the schema compiled by
 * ajv (about 20 times cheaper than class-transformer and class-validator, per the bench:e2e profile), and only a
 * document it refuses goes through class-validator, for the readable problems and as the last word.
 */
export function publishedSchema(dto: ClassConstructor<object>, file: string): void {
  schemaFiles.set(dto, file);
}

/** Compiles every published schema now (a service's start), not on the first event. */
export function compilePublishedSchemas(): void {
  for (const dto of schemaFiles.keys()) schemaCheck(dto);
}

function schemaCheck(dto: ClassConstructor<object>): ValidateFunction | undefined {
  const file = schemaFiles.get(dto);
  if (file === undefined) return undefined;
  let check = compiled.get(dto);
  if (!check) {
    ajv ??= new Ajv2020({ strict: false, allErrors: false });
    const load = (name: string) =>
      JSON.parse(readFileSync(`${SCHEMA_DIR}${name}`, 'utf8')) as { $id: string };
    for (const name of new Set(schemaFiles.values())) {
      const schema = load(name);
      if (!ajv.getSchema(schema.$id)) ajv.addSchema(schema);
    }
    check = ajv.getSchema(load(file).$id)!;
    compiled.set(dto, check);
  }
  return check;
}

/** ISO-8601 date and time with a zone (Z or ±hh:mm); shared by the DTOs and the JSON Schemas. */
export const ISO_DATE_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/**
 * Validates a parsed JSON document against a class-validator DTO. Unknown fields are allowed and kept
 * (the caller keeps the plain object); problems come back as readable lines such as
 * `metrics.tests_passed must be an integer number`. A DTO with a published schema is checked by it first.
 */
export function validatePlain<T extends object>(dto: ClassConstructor<T>, plain: unknown): Validated<T> {
  // every published schema asks for an object: anything else falls through to the DTO's check and its message
  if (schemaCheck(dto)?.(plain)) return { ok: true, value: plain as T };
  return validateWithDto(dto, plain);
}

/** The DTO's own check (class-transformer and class-validator), without the schema's fast path. */
export function validateWithDto<T extends object>(dto: ClassConstructor<T>, plain: unknown): Validated<T> {
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
