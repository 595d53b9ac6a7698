import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSettings } from '#platform';
import {
  collisionVerdict,
  decide,
  findingHash,
  nextThreadGuard,
  resumeOrSpawn,
  retryDelay,
  type SessionFacts,
} from './trigger-policy.js';

const policy = loadSettings({}, '/repo').triggers;
const now = new Date('2026-11-24T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const session = (facts: Partial<SessionFacts> = {}): SessionFacts => ({
  managed: true,
  resumable: true,
  lastHeartbeatAt: ago(60_000),
  deregisteredAt: null,
  ...facts,
});

describe('the decision (SPEC 5)', () => {
  it('spawns when there is no session', () => {
    assert.equal(decide(undefined, now, policy, false), 'spawn');
  });
  it('delivers to a managed, live, fresh session', () => {
    assert.equal(decide(session(), now, policy, false), 'deliver');
  });
  it('resumes an unmanaged or deregistered session that is resumable and fresh', () => {
    assert.equal(decide(session({ managed: false }), now, policy, false), 'resume');
    assert.equal(decide(session({ deregisteredAt: ago(1000) }), now, policy, false), 'resume');
  });
  it('spawns for a session that cannot be resumed', () => {
    assert.equal(decide(session({ managed: false, resumable: false }), now, policy, false), 'spawn');
  });
  it('skips resume for a session stale for more than 12 hours', () => {
    const stale = session({ lastHeartbeatAt: ago(12 * 3_600_000 + 1) });
    assert.equal(decide(stale, now, policy, false), 'spawn');
    assert.equal(resumeOrSpawn(stale, now, policy), 'spawn');
    assert.equal(decide(session({ lastHeartbeatAt: ago(12 * 3_600_000) }), now, policy, false), 'deliver');
  });
  it('goes straight to spawn in a crash loop', () => {
    assert.equal(decide(session(), now, policy, true), 'spawn');
  });
  it('does not resume when resume tries are set to 0', () => {
    assert.equal(resumeOrSpawn(session(), now, { ...policy, resumeTries: 0 }), 'spawn');
  });
});

describe('collision defer', () => {
  it('is clear with no one typing, or no one for the quiet window', () => {
    assert.equal(collisionVerdict(undefined, null, now, policy), 'clear');
    assert.equal(collisionVerdict(ago(20_000), null, now, policy), 'clear');
  });
  it('defers after recent input, until 60 s of deferring, then gives up', () => {
    assert.equal(collisionVerdict(ago(19_999), null, now, policy), 'defer');
    assert.equal(collisionVerdict(ago(1000), ago(59_999), now, policy), 'defer');
    assert.equal(collisionVerdict(ago(1000), ago(60_000), now, policy), 'give_up');
  });
});

describe('retry delay', () => {
  const p = { ...policy, backoffMs: 1000, backoffMaxMs: 10_000, backoffJitter: 0.5 };
  it('doubles per attempt up to the cap, without jitter at random 0', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, p, () => 0)),
      [1000, 2000, 4000, 8000, 10_000, 10_000],
    );
  });
  it('takes off at most the jitter share', () => {
    assert.equal(
      retryDelay(1, p, () => 1),
      500,
    );
    for (let i = 0; i < 100; i++) {
      const delay = retryDelay(3, p);
      assert.ok(delay >= 2000 && delay <= 4000, String(delay));
    }
  });
});

describe('loop guard', () => {
  const fresh = { turnsWithoutProgress: 0, lastFindingHash: null, identicalFindings: 0 };
  it('blocks at the third identical finding in a row', () => {
    let guard = nextThreadGuard(fresh, findingHash('Fix the test'), policy);
    guard = nextThreadGuard(guard, findingHash('  fix   the TEST '), policy);
    assert.equal(guard.blockedReason, null);
    guard = nextThreadGuard(guard, findingHash('fix the test'), policy);
    assert.equal(guard.identicalFindings, 3);
    assert.match(guard.blockedReason ?? '', /3 identical findings/);
  });
  it('counts a different finding as a new run', () => {
    let guard = nextThreadGuard(fresh, findingHash('a'), policy);
    guard = nextThreadGuard(guard, findingHash('a'), policy);
    guard = nextThreadGuard(guard, findingHash('b'), policy);
    assert.equal(guard.identicalFindings, 1);
    assert.equal(guard.blockedReason, null);
  });
  it('blocks at 20 turns without progress', () => {
    let guard: ReturnType<typeof nextThreadGuard> | typeof fresh = fresh;
    for (let turn = 1; turn <= 19; turn++)
      guard = nextThreadGuard(guard, findingHash(`finding ${turn}`), policy);
    assert.equal((guard as ReturnType<typeof nextThreadGuard>).blockedReason, null);
    const last = nextThreadGuard(guard, findingHash('finding 20'), policy);
    assert.match(last.blockedReason ?? '', /20 turns without progress/);
  });
});
