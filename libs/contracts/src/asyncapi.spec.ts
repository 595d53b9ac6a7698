import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { RPC_METHODS, STREAM_ROLES, Subjects } from './subjects.js';
import { TRIGGER_STATES } from './triggers.js';

interface AsyncApi {
  channels: Record<string, { address: string; parameters?: Record<string, { enum?: string[] }> }>;
  components: { messages: Record<string, { payload: unknown }> };
}

/** docs/asyncapi.yaml describes every subject the code uses, and nothing it does not. */
describe('docs/asyncapi.yaml', () => {
  const load = async () =>
    parse(await readFile(new URL('../../../../docs/asyncapi.yaml', import.meta.url), 'utf8')) as AsyncApi;

  it('has a channel for the subjects of every stream', async () => {
    const doc = await load();
    const documented = Object.values(doc.channels).map((c) => c.address.replace(/\{[a-z_]+\}/g, '*'));
    const subjects = new Subjects();
    for (const role of STREAM_ROLES) {
      for (const subject of subjects.streamSubjects(role)) assert.ok(documented.includes(subject), subject);
    }
  });

  it('lists every request/reply method and every trigger state', async () => {
    const doc = await load();
    assert.deepEqual(doc.channels['rpc']?.parameters?.['method']?.enum, [...RPC_METHODS]);
    const trigger = JSON.stringify(doc.components.messages['triggerStatus']?.payload);
    for (const state of TRIGGER_STATES) assert.ok(trigger.includes(`"${state}"`), state);
  });
});
