import type { ServerResponse } from 'node:http';

export interface SseEvent {
  /** The JetStream stream sequence; omitted for control events such as `end`. */
  id?: number;
  event: string;
  data: string;
  /**
   * Events with the same key supersede each other while they wait for a slow client: a status is a full
   * snapshot, so only the newest one per build needs to be sent.
   */
  conflationKey?: string;
}

export interface SseOptions {
  heartbeatMs: number;
  retryMs: number;
  queueLimit: number;
  /** How long a client must have been behind before waiting statuses are conflated. */
  conflateAfterMs: number;
}

/** How long a stream being ended waits for a client that does not read. */
const END_GRACE_MS = 5000;

export type SseCloseReason = 'client' | 'done' | 'overflow' | 'error';

/**
 * One SSE response (SPEC 4.2): the headers, a `retry:` hint with jitter, a `: ping` comment every heartbeat,
 * and a bounded queue for when the socket does not keep up. Once a client has been behind for
 * SSE_CONFLATE_AFTER_MS, waiting status events of the same build are conflated (the older dropped, the newer
 * placed last, so ids stay in order); a client that only filled its socket buffer for a moment (a fast
 * replay) gets every event. Past the bound the client is disconnected and resumes by Last-Event-ID. A slow
 * client never holds up anything else.
 */
export class SseConnection {
  private readonly queue: SseEvent[] = [];
  private blocked = false;
  /** When the socket last stopped taking writes (while blocked). */
  private blockedSince = 0;
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private closeListeners: ((reason: SseCloseReason) => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseOptions,
  ) {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    const jitter = Math.floor(Math.random() * (options.retryMs / 2));
    this.write(`retry: ${options.retryMs + jitter}\n\n`);
    this.heartbeat = setInterval(() => {
      if (!this.blocked) this.write(': ping\n\n');
    }, options.heartbeatMs);
    res.on('close', () => this.finish('client'));
    res.on('error', () => this.finish('error'));
  }

  /** Registers what to release when the connection ends; runs it at once if the client has already gone. */
  onClose(listener: (reason: SseCloseReason) => void): void {
    if (this.closed) {
      listener('client');
      return;
    }
    this.closeListeners.push(listener);
    // The client may have left while the stream was being set up, before 'close' had a listener.
    if (this.res.destroyed || this.res.socket?.destroyed) this.finish('client');
  }

  send(event: SseEvent): void {
    if (this.closed) return;
    if (this.blocked) {
      this.enqueue(event);
      return;
    }
    this.writeEvent(event);
  }

  /** Ends the response once everything queued has been written (a client that does not read gets 5 s). */
  end(): void {
    if (this.closed) return;
    if (this.blocked) {
      this.res.once('drain', () => this.end());
      setTimeout(() => {
        this.res.destroy();
        this.finish('overflow');
      }, END_GRACE_MS).unref();
      return;
    }
    this.res.end();
    this.finish('done');
  }

  private enqueue(event: SseEvent): void {
    const behindFor = Date.now() - this.blockedSince;
    if (event.conflationKey !== undefined && behindFor >= this.options.conflateAfterMs) {
      const older = this.queue.findIndex((e) => e.conflationKey === event.conflationKey);
      if (older >= 0) this.queue.splice(older, 1);
    }
    this.queue.push(event);
    if (this.queue.length > this.options.queueLimit) {
      // Too far behind: drop the connection; the client resumes from its last id without a gap.
      this.res.destroy();
      this.finish('overflow');
    }
  }

  private flush(): void {
    this.blocked = false;
    while (!this.blocked && !this.closed) {
      const next = this.queue.shift();
      if (!next) return;
      this.writeEvent(next);
    }
  }

  private writeEvent(event: SseEvent): void {
    const lines = [];
    if (event.id !== undefined) lines.push(`id: ${event.id}`);
    lines.push(`event: ${event.event}`);
    for (const line of event.data.split(/\r?\n/)) lines.push(`data: ${line}`);
    this.write(`${lines.join('\n')}\n\n`);
  }

  private write(chunk: string): void {
    if (this.closed) return;
    if (!this.res.write(chunk)) {
      if (!this.blocked) this.blockedSince = Date.now();
      this.blocked = true;
      this.res.once('drain', () => this.flush());
    }
  }

  private finish(reason: SseCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.queue.length = 0;
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners = [];
  }
}
