import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WORKFLOW_ROLES } from '#contracts';
import { roleInstructions } from './role-prompt.js';

describe('role instructions', () => {
  it('ships one template per workflow role', async () => {
    for (const role of WORKFLOW_ROLES) assert.ok((await roleInstructions(role, undefined)).length > 50, role);
  });

  it('WORKFLOW_TEMPLATES_DIR replaces a role`s template where it has one, and leaves the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'templates-'));
    try {
      await writeFile(join(dir, 'reviewer.md'), 'Review like a hawk.\n');
      assert.equal(await roleInstructions('reviewer', dir), 'Review like a hawk.');
      assert.equal(await roleInstructions('analyst', dir), await roleInstructions('analyst', undefined));
      assert.match(await roleInstructions('analyst', dir), /^You are an analyst/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
