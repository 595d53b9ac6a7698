import { request, type IncomingMessage } from 'node:http';

export interface ReceivedEvent {
  id?: string;
  event: string;
  data: string;
  /** performance.now() when the event was parsed. */
  at: number;
}

/**
 * A plain SSE client over node:http, parsing the wire format itself so tests see exactly what a browser's
 * EventSource would: ids, event names, data lines, comments (kept as `comments`) and the retry hint.
 */
export class SseClient {
  readonly events: ReceivedEvent[] = [];
  readonly comments: string[] = [];
  /** Called for each event as it arrives. */
  onEvent?: (event: ReceivedEvent) => void;
  retry?: number;
  readonly ended: Promise<void>;
  private readonly waiters: (() => void)[] = [];
  private buffer = '';
  private endedResolve!: () => void;

  private constructor(readonly response: IncomingMessage) {
    this.ended = new Promise((resolve) => (this.endedResolve = resolve));
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.feed(chunk));
    response.on('end', () => this.finish());
    response.on('close', () => this.finish());
    response.on('error', () => this.finish());
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) =>
        resolve(new SseClient(res)),
      );
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** The ids of `status` and `reset` events, as numbers. */
  get ids(): number[] {
    return this.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
  }

  async waitFor(predicate: (events: ReceivedEvent[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`SSE: timed out; got ${JSON.stringify(this.events.map((e) => [e.id, e.event]))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitForCount(count: number, timeoutMs?: number): Promise<void> {
    return this.waitFor((events) => events.filter((e) => e.event !== 'end').length >= count, timeoutMs);
  }

  /** Stops reading: the server's writes back up as they would for a slow client. */
  pause(): void {
    this.response.pause();
  }

  resume(): void {
    this.response.resume();
  }

  close(): void {
    this.response.destroy();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let boundary: number;
    while ((boundary = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, boundary);
      this.buffer = this.buffer.slice(boundary + 2);
      this.parse(block);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  private parse(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) return;
    const received: ReceivedEvent = { event, data: data.join('\n'), at: performance.now() };
    if (id !== undefined) received.id = id;
    this.events.push(received);
    this.onEvent?.(received);
  }

  private finish(): void {
    this.endedResolve();
    for (const wake of this.waiters.splice(0)) wake();
  }
}
