import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Request } from 'express';
import { ValidationError } from '#contracts';
import { lastEventIdOf } from './builds.controller.js';

const req = (headers: Record<string, string>, query: Record<string, string> = {}) =>
  ({ headers, query }) as unknown as Request;

describe('Last-Event-ID', () => {
  it('comes from the header, else the lastEventId query parameter', () => {
    assert.equal(lastEventIdOf(req({ 'last-event-id': '42' }, { lastEventId: '7' })), 42);
    assert.equal(lastEventIdOf(req({}, { lastEventId: '7' })), 7);
    assert.equal(lastEventIdOf(req({})), undefined);
    assert.equal(lastEventIdOf(req({ 'last-event-id': '' })), undefined);
  });

  for (const bad of ['abc', '-1', '1.5', '1e3', '9'.repeat(16)]) {
    it(`refuses ${bad}`, () => {
      assert.throws(() => lastEventIdOf(req({ 'last-event-id': bad })), ValidationError);
    });
  }
});
