import { SseFrame } from './sse-connection.js';

const decoder = new TextDecoder();

/**
 * A message of a stream as the gateway serves it, whether it came from the live tail or from a catch-up read.
 * Its text, its parsed envelope and its SSE frames are made once, on first use, and shared by every
 * connection it goes to.
 */
export class StoredEvent {
  private text?: string;
  private envelope?: { payload?: Record<string, unknown> } | null;
  private readonly frames = new Map<string, SseFrame>();

  constructor(
    /** The JetStream stream sequence: the SSE event id. */
    readonly seq: number,
    readonly subject: string,
    /** What the gateway fans out by: the build id, trigger id or outbox source of the subject. */
    readonly key: string | undefined,
    private readonly raw: Uint8Array,
    /** When the stream stored it (the stream's clock): what `stale` is judged by. */
    readonly storedAtMs: number,
  ) {}

  get data(): string {
    return (this.text ??= decoder.decode(this.raw));
  }

  /** A string field of the envelope's payload (a build's `status`, a trigger's `state`), if it has one. */
  payloadField(name: string): string | undefined {
    if (this.envelope === undefined) {
      try {
        this.envelope = JSON.parse(this.data) as { payload?: Record<string, unknown> };
      } catch {
        this.envelope = null;
      }
    }
    const value = this.envelope?.payload?.[name];
    return typeof value === 'string' ? value : undefined;
  }

  /** This event as `event: <name>`; a conflation key only on the frames that may supersede each other. */
  frame(event: string, conflationKey?: string): SseFrame {
    let frame = this.frames.get(event);
    if (!frame) {
      frame = new SseFrame(event, this.data, this.seq, conflationKey);
      this.frames.set(event, frame);
    }
    return frame;
  }
}
