import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { Envelope, LogLinePayload, PipelineCreated, PipelineView } from '#contracts';
import { SseClient } from './sse-client.js';
import { eventually, type TestEnv } from './test-env.js';

/** Talks to a gateway's pipeline endpoints as a client would. */
export class PipelineClient {
  constructor(
    readonly baseUrl: string,
    private readonly env: TestEnv,
  ) {}

  /** A fresh working folder under the test's PIPELINE_WORKSPACE_ROOTS. */
  async workspace(name = 'ws'): Promise<string> {
    await mkdir(join(this.env.root, 'workspaces'), { recursive: true });
    return mkdtemp(join(this.env.root, 'workspaces', `${name}-`));
  }

  async post(path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async start(body: Record<string, unknown>): Promise<string> {
    const res = await this.post('/pipelines', body);
    if (res.status !== 202) throw new Error(`POST /pipelines: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body as unknown as PipelineCreated).run_id;
  }

  async get(runId: string): Promise<PipelineView> {
    return (await (await fetch(`${this.baseUrl}/pipelines/${runId}`)).json()) as PipelineView;
  }

  /** Waits until the run is in one of `states`. */
  until(runId: string, states: string[], timeoutMs = 30_000): Promise<PipelineView> {
    return eventually(
      async () => {
        const view = await this.get(runId);
        return states.includes(view.state) ? view : undefined;
      },
      timeoutMs,
      `run ${runId} ${states.join(' or ')}`,
    );
  }

  /** Every output line of a build kept so far (a new logs client gets them all). */
  async lines(buildId: string, until: (lines: string[]) => boolean = () => true): Promise<string[]> {
    const client = await SseClient.open(`${this.baseUrl}/builds/${buildId}/logs`);
    try {
      const text = () =>
        client.events
          .filter((e) => e.event === 'log')
          .map((e) => (JSON.parse(e.data) as Envelope<LogLinePayload>).payload.line);
      await client.waitFor(() => until(text()), 20_000);
      return text();
    } finally {
      client.close();
    }
  }
}
