import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PublishWindow } from './outbox-ingestor.js';

/** A publish the test settles when it likes. */
function pending() {
  let settle!: { ok: () => void; fail: (error: Error) => void };
  const promise = new Promise<void>((resolve, reject) => (settle = { ok: resolve, fail: reject }));
  return { promise, ...settle };
}

describe('PublishWindow', () => {
  it('lets `size` publishes fly at once: the next add waits for the oldest', async () => {
    const window = new PublishWindow(2);
    const [a, b] = [pending(), pending()];
    await window.add(0, a.promise);
    let added = false;
    const third = window.add(1, b.promise).then(() => (added = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(added, false, 'full: waits');
    a.ok();
    await third;
    assert.equal(added, true);
    b.ok();
    await window.settle();
  });

  it('a failure stops the drain once every publish in flight settled, and says whether a later one was stored', async () => {
    const window = new PublishWindow(4);
    const [a, b, c] = [pending(), pending(), pending()];
    await window.add(0, a.promise);
    await window.add(1, b.promise);
    await window.add(2, c.promise);
    b.fail(new Error('refused'));
    c.ok();
    let settledAll = false;
    const settling = window.settle().finally(() => (settledAll = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settledAll, false, 'the first is still in flight');
    a.ok();
    await assert.rejects(settling, /refused/);
    assert.equal(window.firstFailed, 1);
    assert.equal(window.storedAfterFailure, true);
  });

  it('a failure of the last one sent: nothing stored after it', async () => {
    const window = new PublishWindow(4);
    const [a, b] = [pending(), pending()];
    await window.add(0, a.promise);
    await window.add(1, b.promise);
    a.ok();
    b.fail(new Error('timeout'));
    await assert.rejects(window.settle(), /timeout/);
    assert.equal(window.storedAfterFailure, false);
  });
});
