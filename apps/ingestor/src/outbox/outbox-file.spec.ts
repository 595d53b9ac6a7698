import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  byOutboxOrder,
  decodeOutboxContent,
  isoFromNs,
  parseOutboxName,
  readOutboxFile,
} from './outbox-file.js';

describe('outbox file names', () => {
  it('reads AutoAppDev names, with the role lower-cased and unknown roles read as pipeline', () => {
    assert.deepEqual(parseOutboxName('1739655400123_pipeline.md'), {
      name: '1739655400123_pipeline.md',
      role: 'pipeline',
      tsNs: 1739655400123_000_000n,
    });
    assert.equal(parseOutboxName('1_SYSTEM.txt')?.role, 'system');
    assert.equal(parseOutboxName('1_reviewer.md')?.role, 'pipeline');
  });

  for (const name of [
    '.tmp.1.42',
    '1739655400123_pipeline.json',
    'notes.md',
    '_pipeline.md',
    '12_pipe line.md',
    '12_.md',
    'processed',
  ]) {
    it(`leaves ${JSON.stringify(name)} alone`, () => assert.equal(parseOutboxName(name), undefined));
  }

  it('orders seconds, milliseconds, microseconds and nanoseconds by the time they mean, then by name', () => {
    const names = [
      '1739655401_pipeline.md', // s:  ...401.000
      '1739655400500_system.md', // ms: ...400.500
      '1739655400900000001_pipeline.md', // ns: ...400.900000001
      '1739655400_pipeline.md', // s:  ...400.000
      '1739655400700000_pipeline.md', // µs: ...400.700
      '1739655400_a-pipeline.md', // same time as ...400 s, sorts before it by name
    ];
    const ordered = names
      .map((n) => parseOutboxName(n)!)
      .sort(byOutboxOrder)
      .map((f) => f.name);
    assert.deepEqual(ordered, [
      '1739655400_a-pipeline.md',
      '1739655400_pipeline.md',
      '1739655400500_system.md',
      '1739655400700000_pipeline.md',
      '1739655400900000001_pipeline.md',
      '1739655401_pipeline.md',
    ]);
    // AutoAppDev sorted names as text, which puts this nanosecond name before the earlier second one.
    assert.notDeepEqual([...names].sort(), ordered);
  });

  it('gives the file time as an ISO date', () => {
    assert.equal(isoFromNs(parseOutboxName('1739655400123_pipeline.md')!.tsNs), '2025-02-15T21:36:40.123Z');
  });
});

describe('outbox content', () => {
  it('replaces invalid UTF-8, trims, and cuts at the limit by characters with a flag', () => {
    assert.deepEqual(decodeOutboxContent(Buffer.from('  hello\n'), 10), {
      content: 'hello',
      truncated: false,
    });
    assert.deepEqual(decodeOutboxContent(Buffer.from([0x68, 0xff, 0x69]), 10), {
      content: 'h\uFFFDi',
      truncated: false,
    });
    assert.deepEqual(decodeOutboxContent(Buffer.from('ab😀cd'), 3), { content: 'ab😀', truncated: true });
    assert.deepEqual(decodeOutboxContent(Buffer.from('   '), 10), { content: '', truncated: false });
  });
});

describe('readOutboxFile', () => {
  it('says gone for a file that vanished between the listing and the read, and hashes what it reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outbox-read-'));
    try {
      assert.deepEqual(readOutboxFile(join(dir, '1_pipeline.md'), 10), { kind: 'gone' });
      await writeFile(join(dir, '2_pipeline.md'), ' hi ');
      const read = readOutboxFile(join(dir, '2_pipeline.md'), 10);
      assert.ok(read.kind === 'read' && read.content === 'hi' && read.hash.length === 64);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
