import { EventSource, type FetchLike } from 'eventsource';
import { CliExit } from './output.js';

/** Waits between attempts to open a stream again after the gateway answered with an error or went away. */
const RETRY_MS = [250, 500, 1000, 2000, 5000];

/** Where a followed stream stands: `reconnecting` while the gateway is away (the watch shows it). */
export type StreamState = 'live' | 'reconnecting';

/** The gateway's HTTP API as the CLI uses it: JSON calls, errors turned into a message and exit code 2. */
export class GatewayClient {
  constructor(
    readonly baseUrl: string,
    /** A bearer token (`--token`, GUARDKIT_TOKEN) for a gateway with access on (SPEC 4.3). */
    private readonly token?: string,
  ) {}

  private authorization(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          ...this.authorization(),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
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
        `${method} ${path}: ${res.status} ${answer.error ?? ''}: ${answer.message ?? ''}${
          res.status === 401 ? ' (pass a token: --token or GUARDKIT_TOKEN)' : ''
        }`,
      );
    }
    return answer as T;
  }

  /**
   * An SSE stream that survives the gateway going away: EventSource resumes by itself after a dropped
   * connection; when it gives up (the gateway answered an error while restarting, or asked for a new token)
   * the stream is opened again from the last event id it handled, so nothing is missed or repeated.
   * A 204 (every build had ended) ends it; 400, 401, 403 and 404 fail it (asking again will not help).
   */
  stream(path: string, on: (event: string, data: string) => void, events: string[]): FollowedStream {
    return new FollowedStream(new URL(path, this.baseUrl), this.authorization(), on, events);
  }
}

export class FollowedStream {
  private source?: EventSource;
  private lastId?: string;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** Called when the state changes; `failed` once, when the gateway refused the stream for good. */
  onState: (state: StreamState) => void = () => undefined;
  onFailed: (error: CliExit) => void = () => undefined;
  onEnded: () => void = () => undefined;

  constructor(
    private readonly url: URL,
    private readonly headers: Record<string, string>,
    private readonly on: (event: string, data: string) => void,
    private readonly events: string[],
  ) {
    this.open();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.source?.close();
  }

  private open(): void {
    const url = new URL(this.url);
    if (this.lastId !== undefined) url.searchParams.set('lastEventId', this.lastId);
    const withAuth: FetchLike = (input, init) =>
      fetch(input, { ...init, headers: { ...init.headers, ...this.headers } });
    const source = new EventSource(url, { fetch: withAuth });
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      this.onState('live');
    };
    source.onerror = (error) => {
      if (this.closed || source !== this.source) return;
      if (source.readyState === EventSource.CLOSED && error.code === 204) {
        this.close();
        this.onEnded();
      } else if (
        source.readyState === EventSource.CLOSED &&
        error.code !== undefined &&
        [400, 401, 403, 404].includes(error.code)
      ) {
        this.close();
        void this.refused(url, error.code);
      } else {
        this.onState('reconnecting');
        // CONNECTING: EventSource tries again by itself; CLOSED: it gave up, so we do
        if (source.readyState === EventSource.CLOSED) this.reopenLater();
      }
    };
    for (const name of [...this.events, 'reauth']) {
      source.addEventListener(name, (e) => {
        if (name === 'reauth') {
          // the token runs out: come back with the same one (a refused one fails the stream)
          source.close();
          this.reopenLater();
          return;
        }
        if (e.lastEventId) this.lastId = e.lastEventId;
        this.on(name, String(e.data));
      });
    }
  }

  /** Fails the stream with the gateway's own reason (EventSource does not give the answer's body). */
  private async refused(url: URL, status: number): Promise<void> {
    const answer = (await fetch(url, { headers: this.headers })
      .then((res) => res.json())
      .catch(() => ({}))) as { error?: string; message?: string };
    const hint = status === 401 ? ' (pass a token: --token or GUARDKIT_TOKEN)' : '';
    this.onFailed(
      new CliExit(2, `${url.pathname}: ${status} ${answer.error ?? ''}: ${answer.message ?? ''}${hint}`),
    );
  }

  private reopenLater(): void {
    this.source?.close();
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        if (!this.closed) this.open();
      },
      RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)],
    );
  }
}
