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
  it('holds `size` publishes; once full, room comes when half of it is free', async () => {
    const window = new PublishWindow(4);
    const publishes = [pending(), pending(), pending(), pending()];
    for (const [i, p] of publishes.entries()) {
      assert.equal(window.hasRoom, true);
      window.send(i, p.promise);
    }
    assert.equal(window.hasRoom, false, 'full');
    let room = false;
    const waiting = window.room().then(() => (room = true));
    publishes[0].ok();
    await new Promise((r) => setImmediate(r));
    assert.equal(room, false, 'one free is not half');
    publishes[1].ok();
    await waiting;
    assert.equal(room, true);
    publishes[2].ok();
    publishes[3].ok();
    await window.settle();
  });

  it('a failure stops the drain once every publish in flight settled, and says whether a later one was stored', async () => {
    const window = new PublishWindow(4);
    const [a, b, c] = [pending(), pending(), pending()];
    window.send(0, a.promise);
    window.send(1, b.promise);
    window.send(2, c.promise);
    b.fail(new Error('refused'));
    c.ok();
    let settledAll = false;
    const settling = window.settle().finally(() => (settledAll = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settledAll, false, 'the first is still in flight');
    assert.equal(window.hasRoom, false, 'nothing more is sent after a failure');
    a.ok();
    await assert.rejects(settling, /refused/);
    assert.equal(window.firstFailed, 1);
    assert.equal(window.storedAfterFailure, true);
  });

  it('a failure of the last one sent: nothing stored after it', async () => {
    const window = new PublishWindow(4);
    const [a, b] = [pending(), pending()];
    window.send(0, a.promise);
    window.send(1, b.promise);
    a.ok();
    b.fail(new Error('timeout'));
    await assert.rejects(window.settle(), /timeout/);
    assert.equal(window.storedAfterFailure, false);
  });
});
