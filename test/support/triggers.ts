import type { TriggerCreated, TriggerView } from '#contracts';
import { eventually } from './test-env.js';

/** HTTP helpers for the trigger and session endpoints of one gateway. */
export class TriggerApi {
  constructor(readonly baseUrl: string) {}

  request(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async registerSession(fields: Record<string, unknown>): Promise<{ session_id: string }> {
    const res = await this.request('POST', '/sessions', {
      workspace_id: 'ws',
      runtime: 'tmux',
      managed: true,
      resumable: false,
      ...fields,
    });
    if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
    return (await res.json()) as { session_id: string };
  }

  async create(fields: Record<string, unknown>): Promise<TriggerCreated> {
    const res = await this.request('POST', '/triggers', this.trigger(fields));
    if (res.status !== 202) throw new Error(`create: ${res.status} ${await res.text()}`);
    return (await res.json()) as TriggerCreated;
  }

  /** A valid trigger request with these fields changed. */
  trigger(fields: Record<string, unknown>): Record<string, unknown> {
    return {
      workspace_id: 'ws',
      thread_id: 'thread-1',
      target_agent_id: 'coder',
      reason: 'review finished',
      prompt: 'Please address the review comments.',
      ...fields,
    };
  }

  async get(id: string): Promise<TriggerView> {
    const res = await this.request('GET', `/triggers/${id}`);
    if (res.status !== 200) throw new Error(`get: ${res.status} ${await res.text()}`);
    return (await res.json()) as TriggerView;
  }

  /** Waits until the trigger reaches one of these states. */
  settled(id: string, states: string[], timeoutMs = 15_000): Promise<TriggerView> {
    return eventually(
      async () => {
        const view = await this.get(id);
        return states.includes(view.state) ? view : undefined;
      },
      timeoutMs,
      `trigger ${id} to reach ${states.join(' or ')}`,
    );
  }
}
