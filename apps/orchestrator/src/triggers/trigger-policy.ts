import { createHash } from 'node:crypto';
import type { TriggerDecision } from '#contracts';
import type { TriggerSettings } from '#platform';

/** What the decision needs to know of a session. */
export interface SessionFacts {
  managed: boolean;
  resumable: boolean;
  lastHeartbeatAt: Date;
  deregisteredAt: Date | null;
}

export function isStale(session: SessionFacts, now: Date, policy: TriggerSettings): boolean {
  return now.getTime() - session.lastHeartbeatAt.getTime() > policy.sessionStaleMs;
}

/**
 * SPEC 5's decision: no session → spawn; a managed, live, fresh session → deliver; else resume if it is
 * resumable and fresh, else spawn. A crash loop (too many runtime failures lately) goes straight to spawn.
 */
export function decide(
  session: SessionFacts | undefined,
  now: Date,
  policy: TriggerSettings,
  crashLoop: boolean,
): TriggerDecision {
  if (!session || crashLoop) return 'spawn';
  const fresh = !isStale(session, now, policy);
  if (session.managed && session.deregisteredAt === null && fresh) return 'deliver';
  return resumeOrSpawn(session, now, policy);
}

/** After live delivery failed: resume a resumable, fresh session, else spawn; a stale session skips resume. */
export function resumeOrSpawn(
  session: SessionFacts | undefined,
  now: Date,
  policy: TriggerSettings,
): TriggerDecision {
  if (session && session.resumable && policy.resumeTries > 0 && !isStale(session, now, policy))
    return 'resume';
  return 'spawn';
}

export type CollisionVerdict = 'clear' | 'defer' | 'give_up';

/**
 * A pane a person typed into within the quiet window is not interrupted: defer and look again, for at most
 * deferMaxMs since the first deferral, then give up on live delivery and fall back.
 */
export function collisionVerdict(
  lastHumanInput: Date | undefined,
  deferredSince: Date | null,
  now: Date,
  policy: TriggerSettings,
): CollisionVerdict {
  if (!lastHumanInput || now.getTime() - lastHumanInput.getTime() >= policy.quietWindowMs) return 'clear';
  if (deferredSince && now.getTime() - deferredSince.getTime() >= policy.deferMaxMs) return 'give_up';
  return 'defer';
}

/**
 * BullMQ backoff: exponential from TRIGGER_BACKOFF_MS, capped at TRIGGER_BACKOFF_MAX_MS, with up to
 * TRIGGER_BACKOFF_JITTER of it taken off at random so that retries of many triggers spread out.
 */
export function retryDelay(
  attemptsMade: number,
  policy: TriggerSettings,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling * (1 - policy.backoffJitter * random()));
}

/** Two findings are the same when their prompts are, give or take case and spacing. */
export function findingHash(prompt: string): string {
  return createHash('sha256').update(prompt.trim().replace(/\s+/g, ' ').toLowerCase()).digest('hex');
}

/** The loop guard of one thread, after one more trigger (a turn) with this finding. */
export function nextThreadGuard(
  guard: { turnsWithoutProgress: number; lastFindingHash: string | null; identicalFindings: number },
  hash: string,
  policy: TriggerSettings,
): {
  turnsWithoutProgress: number;
  lastFindingHash: string;
  identicalFindings: number;
  blockedReason: string | null;
} {
  const turnsWithoutProgress = guard.turnsWithoutProgress + 1;
  const identicalFindings = guard.lastFindingHash === hash ? guard.identicalFindings + 1 : 1;
  let blockedReason: string | null = null;
  if (identicalFindings >= policy.autoBlockIdentical) {
    blockedReason = `${identicalFindings} identical findings in a row`;
  } else if (turnsWithoutProgress >= policy.autoBlockTurns) {
    blockedReason = `${turnsWithoutProgress} turns without progress`;
  }
  return { turnsWithoutProgress, lastFindingHash: hash, identicalFindings, blockedReason };
}
