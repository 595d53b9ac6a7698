import { type ReceivedEvent, SseClient } from './sse-client.js';

/**
 * An SSE client that behaves as a browser's EventSource: when the connection drops or fails it opens it
 * again after a short wait, with the id of the last event it got as Last-Event-ID. It stops after `end`, or on
 * a 204 (which stops EventSource), or when closed. Given several URLs (one stream on several gateways), it
 * opens the next one at each reconnect, as a client behind a load balancer would land on another gateway.
 */
export class ResumingClient {
  readonly events: ReceivedEvent[] = [];
  reconnects = 0;
  private closed = false;
  private current?: SseClient;
  readonly done: Promise<void>;

  private readonly urls: string[];
  /** How many connections reached each URL with a 200 (by index of `urls`). */
  readonly served: number[];

  constructor(
    url: string | string[],
    private readonly endsAfter: number,
    private readonly retryMs = 300,
  ) {
    this.urls = typeof url === 'string' ? [url] : url;
    this.served = this.urls.map(() => 0);
    this.done = this.run();
  }

  get lastId(): string | undefined {
    return this.events.findLast((e) => e.id !== undefined)?.id;
  }

  /** Events with an id (`status`, `outbox`, `reset`…), as numbers. */
  get ids(): number[] {
    return this.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
  }

  close(): void {
    this.closed = true;
    this.current?.close();
  }

  private async run(): Promise<void> {
    let ends = 0;
    for (let attempt = 0; !this.closed; attempt++) {
      const at = attempt % this.urls.length;
      const headers: Record<string, string> =
        this.lastId === undefined ? {} : { 'Last-Event-ID': this.lastId };
      try {
        const client = await SseClient.open(this.urls[at], headers);
        this.current = client;
        if (client.status === 204) return;
        if (client.status === 200) {
          this.served[at]++;
          const take = (event: ReceivedEvent) => {
            this.events.push(event);
            if (event.event === 'end') ends++;
          };
          // events that came in the same packet as the headers were parsed before we got the client
          for (const event of client.events) take(event);
          client.onEvent = take;
          await client.ended;
          if (ends >= this.endsAfter) return;
        } else {
          client.close();
        }
      } catch {
        // refused: the gateway is down or restarting
      }
      if (this.closed) return;
      this.reconnects++;
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }
}
