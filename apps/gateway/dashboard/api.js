// The gateway's API as the dashboard uses it, and what the page knows about each part of the stack.

/** What each part looks like from here; the header shows it (see app.js). */
export const health = {
  gateway: 'unknown', // the gateway answers HTTP
  nats: 'unknown', // the gateway is connected to NATS (its /readyz)
  orchestrator: 'unknown', // lists and actions answer (they go to the orchestrator over NATS)
  live: 'connecting', // the page's SSE streams: connecting, live, reconnecting
  auth: 'unknown', // 'open', 'signed-in', or 'needed'
};

const listeners = new Set();
export function onHealth(listener) {
  listeners.add(listener);
}
export function setHealth(part, value) {
  if (health[part] === value) return;
  health[part] = value;
  for (const listener of listeners) listener(health);
}

/** An answer that is not 2xx, with the gateway's `{error, message}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `${status} ${code}`);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the gateway (the session cookie goes along) and returns the JSON answer, or throws ApiError. Keeps
 * `health` honest: no answer means the gateway is down; SERVICE_UNAVAILABLE the orchestrator; 401 a sign-in.
 */
export async function api(path, { method = 'GET', body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers:
        body === undefined
          ? { Accept: 'application/json' }
          : { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    setHealth('gateway', 'down');
    throw new ApiError(0, 'GATEWAY_UNREACHABLE', `the gateway does not answer (${error.message})`);
  }
  setHealth('gateway', 'up');
  const text = await res.text();
  let answer;
  try {
    answer = text ? JSON.parse(text) : {};
  } catch {
    answer = { message: text.slice(0, 200) };
  }
  if (res.status === 401) setHealth('auth', 'needed');
  else if (health.auth === 'unknown' || health.auth === 'needed')
    setHealth('auth', res.ok ? 'ok' : health.auth);
  if (answer && answer.error === 'SERVICE_UNAVAILABLE') setHealth('orchestrator', 'down');
  else if (answer && answer.error === 'BUS_UNAVAILABLE') setHealth('nats', 'down');
  else if (res.ok) setHealth('orchestrator', 'up');
  if (!res.ok) throw new ApiError(res.status, answer.error ?? String(res.status), answer.message);
  return answer;
}

/** The gateway's readiness: says whether NATS is connected (the orchestrator is judged by the API calls). */
export async function checkReadiness() {
  try {
    const res = await fetch('/readyz', { credentials: 'same-origin' });
    setHealth('gateway', 'up');
    const body = await res.json().catch(() => ({}));
    const nats = body.details?.nats?.status ?? body.error?.nats?.status ?? body.info?.nats?.status;
    setHealth('nats', nats === 'up' ? 'up' : res.ok ? 'up' : 'down');
  } catch {
    setHealth('gateway', 'down');
  }
}

/** Turns the pasted token into the session cookie (POST /auth/session); the page never keeps the token. */
export async function signIn(token) {
  const res = await fetch('/auth/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { Authorization: `Bearer ${token.trim()}` },
  });
  if (!res.ok) {
    const answer = await res.json().catch(() => ({}));
    throw new ApiError(res.status, answer.error, answer.message || 'the gateway refused this token');
  }
  setHealth('auth', 'signed-in');
}

export async function signOut() {
  await fetch('/auth/session', { method: 'DELETE', credentials: 'same-origin' }).catch(() => undefined);
  setHealth('auth', 'needed');
}

/** What a refused action says to the person who tried it. */
export function explain(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  if (error.status === 403) return `Not allowed with this token: ${error.message}`;
  if (error.status === 401) return 'Sign in first: this gateway needs a token.';
  return error.message;
}
