import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSmallFile } from './small-file.js';

describe('readSmallFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'small-file-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads a file whole, with the stamp of what it read', async () => {
    const path = join(dir, 'a.txt');
    await writeFile(path, 'x'.repeat(70_000)); // larger than one read of a pipe or a small buffer
    const read = readSmallFile(path, 100_000);
    assert.ok(read.kind === 'read');
    assert.equal(read.bytes.length, 70_000);
    assert.equal(read.stamp.size, 70_000);
  });

  it('reads an empty file as no bytes', async () => {
    const path = join(dir, 'empty.txt');
    await writeFile(path, '');
    const read = readSmallFile(path, 10);
    assert.ok(read.kind === 'read' && read.bytes.length === 0);
  });

  it('refuses a file over the bound, at the bound reads it', async () => {
    const path = join(dir, 'big.txt');
    await writeFile(path, 'x'.repeat(11));
    assert.equal(readSmallFile(path, 10).kind, 'too-large');
    assert.equal(readSmallFile(path, 11).kind, 'read');
  });

  it('says missing for a path whose folder is a file', async () => {
    const path = join(dir, 'plain');
    await writeFile(path, 'x');
    assert.deepEqual(readSmallFile(join(path, 'inside'), 10), { kind: 'missing' });
  });
});
