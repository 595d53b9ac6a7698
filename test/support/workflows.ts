import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowCreated, WorkflowView } from '#contracts';
import { eventually, type TestEnv } from './test-env.js';

/** The scripted stand-in agent shipped for workflows (not an agent: see its header). */
export const FAKE_WORKFLOW_AGENT = fileURLToPath(
  new URL('../../../examples/workflows/fake-agent.mjs', import.meta.url),
);

/** One line the fake agent traced: when which node of which workflow started or ended, and its pid. */
export interface TraceLine {
  at: number;
  workflowId: string;
  node: string;
  round: number;
  attempt: number;
  pid: number;
  what: 'start' | 'end';
}

export async function readTrace(path: string): Promise<TraceLine[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, workflowId, node, round, attempt, pid, what] = line.split(' ');
      return {
        at: Number(at),
        workflowId,
        node,
        round: Number(round.slice(1)),
        attempt: Number(attempt.slice(1)),
        pid: Number(pid.slice(4)),
        what: what as TraceLine['what'],
      };
    });
}

/** Talks to a gateway's workflow endpoints as a client would. */
export class WorkflowClient {
  constructor(
    readonly baseUrl: string,
    private readonly env: TestEnv,
  ) {}

  /** A fresh folder under the test's PIPELINE_WORKSPACE_ROOTS. */
  async folder(name = 'ws'): Promise<string> {
    await mkdir(join(this.env.root, 'workspaces'), { recursive: true });
    return mkdtemp(join(this.env.root, 'workspaces', `${name}-`));
  }

  /** A fresh git repository with one commit (a README), under the test's PIPELINE_WORKSPACE_ROOTS. */
  async repository(name = 'repo'): Promise<string> {
    const dir = await this.folder(name);
    await writeFile(join(dir, 'README.md'), '# demo\n');
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], {
        cwd: dir,
      });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'start');
    return dir;
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async start(body: Record<string, unknown>): Promise<string> {
    const res = await this.request('POST', '/workflows', body);
    if (res.status !== 202) throw new Error(`POST /workflows: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body as unknown as WorkflowCreated).workflow_id;
  }

  async get(id: string): Promise<WorkflowView> {
    return (await this.request('GET', `/workflows/${id}`)).body as unknown as WorkflowView;
  }

  async artifact(id: string, name: string): Promise<{ status: number; type: string; text: string }> {
    const res = await fetch(`${this.baseUrl}/workflows/${id}/artifacts/${name}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  until(id: string, states: string[], timeoutMs = 60_000): Promise<WorkflowView> {
    return eventually(
      async () => {
        const view = await this.get(id);
        return states.includes(view.state) ? view : undefined;
      },
      timeoutMs,
      `workflow ${id} ${states.join(' or ')}`,
    );
  }
}
