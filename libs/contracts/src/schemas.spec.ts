import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { BuildStatusPayloadDto, ProgressFileDto, toBuildStatusPayload } from './build-status.js';
import { EnvelopeDto } from './envelope.js';
import { validatePlain, validateWithDto } from './validation.js';

const schemaDir = new URL('../../../../docs/schemas/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, schemaDir), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(load('progress-file.schema.json'), 'progress-file.schema.json');
const schemas = {
  progress: ajv.getSchema('progress-file.schema.json')!,
  payload: ajv.compile(load('build-status.schema.json')),
  envelope: ajv.compile(load('envelope.schema.json')),
};

type Doc = Record<string, unknown>;
const valid: Doc = {
  build_id: 'TASK-FB-002',
  build_type: 'task',
  status: 'running',
  wave: 1,
  wave_total: 1,
  task_id: 'TASK-FB-002',
  task_name: 'Implement text output fallback',
  turn: 2,
  turn_max: 5,
  phase: 'Coach Validation',
  phase_status: 'in_progress',
  metrics: { elapsed_seconds: 245, files_created: 2, files_modified: 1, tests_passed: 5, tests_total: 5 },
  started_at: '2025-01-31T12:34:56Z',
  updated_at: '2025-01-31T12:38:41.123456Z',
};
const without = (doc: Doc, key: string): Doc =>
  Object.fromEntries(Object.entries(doc).filter(([k]) => k !== key));
const metricsWith = (change: Doc): Doc => ({
  ...valid,
  metrics: { ...(valid['metrics'] as Doc), ...change },
});

/** Each case: a document and whether a progress file like it is accepted. */
const progressCorpus: [string, unknown, boolean][] = [
  ['the seed 001 example', valid, true],
  ['no build_id (the folder name is used)', without(valid, 'build_id'), true],
  ['unknown extra fields', { ...valid, worker: 'player-2', extra: { nested: [1, 2] } }, true],
  ['unknown extra metrics', metricsWith({ lint_warnings: 3 }), true],
  ['status error (read as failed)', { ...valid, status: 'error' }, true],
  ['a date with an offset', { ...valid, started_at: '2025-01-31T12:34:56+02:00' }, true],
  ...Object.keys(valid)
    .filter((key) => key !== 'build_id')
    .map((key): [string, unknown, boolean] => [`no ${key}`, without(valid, key), false]),
  ...Object.keys(valid['metrics'] as Doc).map((key): [string, unknown, boolean] => [
    `no metrics.${key} (read as absent)`,
    { ...valid, metrics: without(valid['metrics'] as Doc, key) },
    true,
  ]),
  ['metrics empty', { ...valid, metrics: {} }, true],
  [
    'metrics.elapsed_seconds as a fraction (a clock difference)',
    metricsWith({ elapsed_seconds: 245.37 }),
    true,
  ],
  ['metrics.tests_passed negative', metricsWith({ tests_passed: -1 }), false],
  ['wave as a string', { ...valid, wave: '1' }, false],
  ['turn as a fraction', { ...valid, turn: 2.5 }, false],
  ['turn negative', { ...valid, turn: -1 }, false],
  ['status unknown', { ...valid, status: 'paused' }, false],
  ['status as a number', { ...valid, status: 1 }, false],
  ['build_type empty', { ...valid, build_type: '' }, false],
  ['task_name as a number', { ...valid, task_name: 7 }, false],
  ['phase null', { ...valid, phase: null }, false],
  ['metrics as a string', { ...valid, metrics: 'lots' }, false],
  ['metrics.tests_passed as a string', metricsWith({ tests_passed: '5' }), false],
  ['started_at not a date', { ...valid, started_at: 'yesterday' }, false],
  ['updated_at without a zone', { ...valid, updated_at: '2025-01-31T12:38:41' }, false],
  ['updated_at a date only', { ...valid, updated_at: '2025-01-31' }, false],
  ['build_id with a dot', { ...valid, build_id: 'a.b' }, false],
  ['build_id with a wildcard', { ...valid, build_id: 'a*' }, false],
  ['build_id with a space', { ...valid, build_id: 'a b' }, false],
  ['build_id as a number', { ...valid, build_id: 12 }, false],
  ['an array', [valid], false],
  ['null', null, false],
  ['a string', 'running', false],
];

describe('progress.json: the DTO and docs/schemas/progress-file.schema.json agree', () => {
  for (const [name, doc, accepted] of progressCorpus) {
    it(`${accepted ? 'accepts' : 'refuses'} ${name}`, () => {
      const dto = validateWithDto(ProgressFileDto, doc);
      assert.equal(dto.ok, accepted, `DTO: ${dto.ok ? 'accepted' : dto.problems.join('; ')}`);
      assert.equal(schemas.progress(doc), accepted, `schema: ${ajv.errorsText(schemas.progress.errors)}`);
    });
  }

  it('names the field at fault', () => {
    const result = validatePlain(ProgressFileDto, metricsWith({ tests_passed: 'five' }));
    assert.ok(!result.ok);
    assert.ok(
      result.problems.some((p) => p.startsWith('metrics.tests_passed')),
      result.problems.join('; '),
    );
  });
});

describe('build status payload: the DTO and docs/schemas/build-status.schema.json agree', () => {
  const published = toBuildStatusPayload(
    { ...(without(valid, 'build_id') as unknown as ProgressFileDto), status: 'error' },
    'TASK-FB-002',
  );
  const corpus: [string, unknown, boolean][] = [
    ['what the ingestor publishes for an error file', published, true],
    ['without progress_pct', without(published, 'progress_pct'), false],
    ['without build_id', without(published, 'build_id'), false],
    ['with status error (never published)', { ...published, status: 'error' }, false],
    ['with progress_pct over 100', { ...published, progress_pct: 101 }, false],
    ['with extra fields', { ...published, worker: 'x' }, true],
  ];
  for (const [name, doc, accepted] of corpus) {
    it(`${accepted ? 'accepts' : 'refuses'} a payload ${name}`, () => {
      assert.equal(validateWithDto(BuildStatusPayloadDto, doc).ok, accepted, 'DTO');
      assert.equal(validatePlain(BuildStatusPayloadDto, doc).ok, accepted, 'validatePlain');
      assert.equal(schemas.payload(doc), accepted, `schema: ${ajv.errorsText(schemas.payload.errors)}`);
    });
  }
});

describe('envelope: the DTO and docs/schemas/envelope.schema.json agree', () => {
  const envelope: Doc = {
    message_id: 'progress-TASK-1-abc',
    timestamp: '2026-11-24T20:59:15.424Z',
    version: '1.0',
    source_id: 'guardkit-ingestor',
    event_type: 'build_progress',
    project: 'repo',
    correlation_id: 'TASK-1',
    payload: valid,
  };
  const corpus: [string, unknown, boolean][] = [
    ['a full envelope', envelope, true],
    [
      'without the optional project and correlation_id',
      without(without(envelope, 'project'), 'correlation_id'),
      true,
    ],
    ['with extra fields', { ...envelope, trace: 'x' }, true],
    ...['message_id', 'timestamp', 'version', 'source_id', 'event_type', 'payload'].map(
      (key): [string, unknown, boolean] => [`without ${key}`, without(envelope, key), false],
    ),
    ['version 2.0', { ...envelope, version: '2.0' }, false],
    ['payload as a string', { ...envelope, payload: '{}' }, false],
    ['timestamp not ISO', { ...envelope, timestamp: '24/11/2026' }, false],
    ['project as a number', { ...envelope, project: 3 }, false],
  ];
  for (const [name, doc, accepted] of corpus) {
    it(`${accepted ? 'accepts' : 'refuses'} ${name}`, () => {
      assert.equal(validateWithDto(EnvelopeDto, doc).ok, accepted, 'DTO');
      assert.equal(validatePlain(EnvelopeDto, doc).ok, accepted, 'validatePlain');
      assert.equal(schemas.envelope(doc), accepted, `schema: ${ajv.errorsText(schemas.envelope.errors)}`);
    });
  }
});
