import type { RoleAnswer, RoleAnswerStatus } from '#contracts';

/**
 * The words agents use for each status, as Staremaster accepts them (case and `-`/space ignored): a verdict
 * of tests or review that "failed" asks for changes; only BLOCKED stops the workflow.
 */
const STATUS_ALIASES: Record<string, RoleAnswerStatus> = {
  ok: 'OK',
  pass: 'OK',
  passed: 'OK',
  approved: 'OK',
  approve: 'OK',
  accepted: 'OK',
  success: 'OK',
  done: 'OK',
  lgtm: 'OK',
  changes_requested: 'CHANGES_REQUESTED',
  request_changes: 'CHANGES_REQUESTED',
  changes_required: 'CHANGES_REQUESTED',
  needs_changes: 'CHANGES_REQUESTED',
  needs_work: 'CHANGES_REQUESTED',
  rejected: 'CHANGES_REQUESTED',
  fail: 'CHANGES_REQUESTED',
  failed: 'CHANGES_REQUESTED',
  blocked: 'BLOCKED',
  block: 'BLOCKED',
  error: 'BLOCKED',
};

export function answerStatusOf(value: unknown): RoleAnswerStatus | undefined {
  if (typeof value !== 'string') return undefined;
  return STATUS_ALIASES[
    value
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, '_')
  ];
}

/** The answer an object is, if it is one: a known status, and text (or anything, as JSON) for the rest. */
function answerOf(value: unknown): RoleAnswer | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  const status = answerStatusOf(obj.status);
  if (!status) return undefined;
  const text = (v: unknown) =>
    v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  return { status, summary: text(obj.summary), details: text(obj.details) };
}

/** JSON objects written inside an agent's message: the whole text, a fenced block, or the outermost braces. */
function objectsIn(text: string): unknown[] {
  const out: unknown[] = [];
  const tryParse = (candidate: string) => {
    try {
      out.push(JSON.parse(candidate));
    } catch {
      // not JSON: the next candidate may be
    }
  };
  tryParse(text.trim());
  for (const fence of text.matchAll(/```(?:json)?\s*\n([\s\S]*?)```/g)) tryParse(fence[1]);
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  if (first >= 0 && last > first) tryParse(text.slice(first, last + 1));
  return out;
}

/** The text of an agent message in a Codex `--json` event line (`item.completed` of an `agent_message`). */
function messageTextOf(event: Record<string, unknown>): string | undefined {
  const item = event.item as Record<string, unknown> | undefined;
  if (item && typeof item.text === 'string') return item.text;
  const msg = event.msg as Record<string, unknown> | undefined;
  if (msg && typeof msg.message === 'string') return msg.message;
  return typeof event.message === 'string' ? event.message : undefined;
}

/**
 * SPEC 6.2's answer contract: the last `{status, summary, details}` object in a role's standard output, written
 * as a line of its own, or inside the agent's message (Codex's JSON events, a fenced block). Undefined when the
 * output holds none: a failed attempt.
 */
export function parseRoleAnswer(stdout: string): RoleAnswer | undefined {
  let found: RoleAnswer | undefined;
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('{')) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    const direct = answerOf(value);
    if (direct) {
      found = direct;
      continue;
    }
    const text = messageTextOf(value as Record<string, unknown>);
    if (text === undefined) continue;
    for (const candidate of objectsIn(text)) found = answerOf(candidate) ?? found;
  }
  if (found) return found;
  // a plain-text agent: the answer anywhere in the whole output
  for (const candidate of objectsIn(stdout)) found = answerOf(candidate) ?? found;
  return found;
}
