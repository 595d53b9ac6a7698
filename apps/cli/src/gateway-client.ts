import { EventSource } from 'eventsource';
import { CliExit } from './output.js';

/** The gateway's HTTP API as the CLI uses it: JSON calls, errors turned into a message and exit code 2. */
export class GatewayClient {
  constructor(readonly baseUrl: string) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new CliExit(
        1,
        `cannot reach the gateway at ${this.baseUrl} (--url or GUARDKIT_URL): ${(error as Error).message}`,
      );
    }
    const answer = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    if (!res.ok) {
      throw new CliExit(
        res.status >= 500 ? 1 : 2,
        `${method} ${path}: ${res.status} ${answer.error ?? ''}: ${answer.message ?? ''}`,
      );
    }
    return answer as T;
  }

  /** An SSE stream (it reconnects with Last-Event-ID by itself); `on` gets each event's name and data. */
  stream(path: string, on: (event: string, data: string) => void, events: string[]): EventSource {
    const source = new EventSource(new URL(path, this.baseUrl));
    for (const name of events) source.addEventListener(name, (e) => on(name, String(e.data)));
    return source;
  }
}
