import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Request } from 'express';
import { ValidationError } from '#contracts';
import { supportsMultipleFilters } from '../sse/status-events.js';
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

describe('server versions', () => {
  it('knows that several filter subjects need nats-server 2.10', () => {
    assert.equal(supportsMultipleFilters('2.9.10'), false);
    assert.equal(supportsMultipleFilters('2.10.0'), true);
    assert.equal(supportsMultipleFilters('3.0.1'), true);
    assert.equal(supportsMultipleFilters(undefined), false);
  });
});
