import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NextFunction, Request, Response } from 'express';
import { loopbackOnly } from './board.module.js';

function call(remoteAddress: string): { passed: boolean; status?: number } {
  const result: { passed: boolean; status?: number } = { passed: false };
  const res = {
    status(code: number) {
      result.status = code;
      return this;
    },
    json() {
      return this;
    },
  } as unknown as Response;
  loopbackOnly({ socket: { remoteAddress } } as Request, res, (() => (result.passed = true)) as NextFunction);
  return result;
}

describe('the board is loopback-only', () => {
  it('lets this machine in', () => {
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) assert.equal(call(address).passed, true);
  });
  it('answers 403 to anyone else', () => {
    assert.deepEqual(call('192.0.2.10'), { passed: false, status: 403 });
    assert.deepEqual(call('::ffff:10.0.0.2'), { passed: false, status: 403 });
  });
});
