import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * One event in its wire form, rendered once and written as the same bytes to every connection that sends it
 * (one status event to 10,000 clients is one rendering, not 10,000).
 */
export class SseFrame {
  readonly bytes: Buffer;

  constructor(
    readonly event: string,
    data: string,
    /** The JetStream stream sequence; omitted for control events such as `end`. */
    readonly id?: number,
    /**
     * Frames with the same key supersede each other while they wait for a slow client (a status is a full
     * snapshot, so only the newest one per build needs to be sent). A frame without a key (`reset`, `end`,
     * an outbox message) is never conflated away.
     */
    readonly conflationKey?: string,
  ) {
    const head = id === undefined ? `event: ${event}\n` : `id: ${id}\nevent: ${event}\n`;
    // an event's JSON is one line; only other text needs a `data:` line per line
    const body = data.includes('\n') ? data.split(/\r?\n/).join('\ndata: ') : data;
    this.bytes = Buffer.from(`${head}data: ${body}\n\n`);
  }
}

export interface SseOptions {
  retryMs: number;
  /** The most frames waiting for a slow client before it is disconnected. */
  queueLimit: number;
  /** The most bytes waiting for a slow client before it is disconnected. */
  queueBytes: number;
  /** How long a client must have been behind before waiting frames are conflated. */
  conflateAfterMs: number;
  /** Told of each frame dropped because a newer one of the same key superseded it. */
  onConflated?: () => void;
}

/** What is waiting for a client: frames, their bytes, and how long the oldest has waited. */
export interface SseLag {
  events: number;
  bytes: number;
  oldestMs: number;
}

/** How long a stream being ended waits for a client that does not read. */
const END_GRACE_MS = 5000;
const PING = Buffer.from(': ping\n\n');

export type SseCloseReason = 'client' | 'done' | 'overflow' | 'error';

/**
 * One SSE response (SPEC 4.2): the headers, a `retry:` hint with jitter, pings when asked, and a bounded
 * queue for when the socket does not keep up. Once a client has been behind for `conflateAfterMs`, waiting
 * frames with the same conflation key are conflated (the older dropped, the newer placed last, so ids stay in
 * order); a client that only filled its socket buffer for a moment (a fast replay) gets every frame. Past the
 * bound (frames or bytes) the client is disconnected and resumes by Last-Event-ID. A slow client never holds
 * up anything else: writing to it never waits.
 */
export class SseConnection {
  private readonly queue: { frame: SseFrame; at: number }[] = [];
  private queuedBytes = 0;
  private blocked = false;
  /** When the socket last stopped taking writes (while blocked). */
  private blockedSince = 0;
  private closed = false;
  private closeListeners: ((reason: SseCloseReason) => void)[] = [];
  private writableWaiters: (() => void)[] = [];
  /** The socket, once the headers have gone out through the response. */
  private body?: Socket;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseOptions,
  ) {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    // The stream ends with its connection, so it needs no chunked framing: each event is one plain write
    // (one buffer to the socket, not three), and the headers go out with the retry hint, not on their own.
    res.useChunkedEncodingByDefault = false;
    res.setHeader('Connection', 'close');
    res.socket?.setNoDelay(true);
    const jitter = Math.floor(Math.random() * (options.retryMs / 2));
    this.write(Buffer.from(`retry: ${options.retryMs + jitter}\n\n`));
    res.on('close', () => this.finish('client'));
    res.on('error', () => this.finish('error'));
  }

  get isClosed(): boolean {
    return this.closed;
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

  send(frame: SseFrame): void {
    if (this.closed) return;
    if (this.blocked) this.enqueue(frame);
    else this.write(frame.bytes);
  }

  /** Resolves once the socket takes writes again (or the connection closed): a replay waits here. */
  whenWritable(): Promise<void> {
    if (!this.blocked || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  /** A comment (`: text`): EventSource ignores it, a person reading curl sees it. */
  comment(text: string): void {
    if (!this.blocked && !this.closed) this.write(Buffer.from(`: ${text.replace(/\r?\n/g, ' ')}\n\n`));
  }

  /** A `: ping` comment, unless the client is behind (then it has bytes to read anyway). */
  ping(): void {
    if (!this.blocked && !this.closed) this.write(PING);
  }

  lag(now: number): SseLag {
    return {
      events: this.queue.length,
      bytes: this.queuedBytes,
      oldestMs: this.queue.length === 0 ? 0 : now - this.queue[0].at,
    };
  }

  /** Ends the response once everything queued has been written (a client that does not read gets 5 s). */
  end(): void {
    if (this.closed) return;
    if (this.blocked) {
      (this.body ?? this.res).once('drain', () => this.end());
      setTimeout(() => this.drop(), END_GRACE_MS).unref();
      return;
    }
    this.res.end();
    this.finish('done');
  }

  /** Disconnects a client that is too far behind; it resumes from its last id without a gap. */
  drop(): void {
    if (this.closed) return;
    this.res.destroy();
    this.finish('overflow');
  }

  private enqueue(frame: SseFrame): void {
    const now = Date.now();
    if (frame.conflationKey !== undefined && now - this.blockedSince >= this.options.conflateAfterMs) {
      const older = this.queue.findIndex((q) => q.frame.conflationKey === frame.conflationKey);
      if (older >= 0) {
        this.queuedBytes -= this.queue[older].frame.bytes.length;
        this.queue.splice(older, 1);
        this.options.onConflated?.();
      }
    }
    this.queue.push({ frame, at: now });
    this.queuedBytes += frame.bytes.length;
    if (this.queue.length > this.options.queueLimit || this.queuedBytes > this.options.queueBytes)
      this.drop();
  }

  private flush(): void {
    this.blocked = false;
    while (!this.blocked && !this.closed) {
      const next = this.queue.shift();
      if (!next) break;
      this.queuedBytes -= next.frame.bytes.length;
      this.write(next.frame.bytes);
    }
    if (!this.blocked) this.wakeWriters();
  }

  private write(chunk: Buffer): void {
    if (this.closed) return;
    const out = this.body ?? this.res;
    if (!out.write(chunk)) {
      if (!this.blocked) this.blockedSince = Date.now();
      this.blocked = true;
      out.once('drain', () => this.flush());
    }
    // Once the headers are out, the body is plain bytes on the socket (no chunked framing): writing there
    // directly skips the HTTP layer, whose per-write cost was most of a fan-out's CPU (bench:fanout).
    this.body ??= this.res.socket ?? undefined;
  }

  private wakeWriters(): void {
    for (const wake of this.writableWaiters.splice(0)) wake();
  }

  private finish(reason: SseCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.wakeWriters();
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners = [];
  }
}
