import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescingRunner } from './coalescing-runner.js';

describe('CoalescingRunner', () => {
  it('runs one task per key at a time and once more for everything scheduled meanwhile', async () => {
    const runs: string[] = [];
    let active = 0;
    let maxActive = 0;
    const runner = new CoalescingRunner(
      async (key) => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs.push(key);
        await new Promise((r) => setTimeout(r, 20));
        active--;
      },
      () => assert.fail('no error expected'),
    );
    void runner.schedule('a');
    for (let i = 0; i < 10; i++) void runner.schedule('a');
    void runner.schedule('b');
    await runner.idle();
    assert.deepEqual(runs.sort(), ['a', 'a', 'b']);
    assert.equal(maxActive, 2, 'different keys run side by side');
  });

  it('reports a failing task and keeps going', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const runner = new CoalescingRunner(
      () => {
        calls++;
        return Promise.reject(new Error('boom'));
      },
      (_key, error) => errors.push(error),
    );
    await runner.schedule('x');
    await runner.schedule('x');
    assert.equal(calls, 2);
    assert.equal(errors.length, 2);
  });
});
