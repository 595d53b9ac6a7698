import { Logger } from '@nestjs/common';
import { createEnvelope, type LogLinePayload } from '#contracts';
import type { EventPublisher } from '#bus';

/** What every line of one execution shares. */
export type LogOrigin = Omit<LogLinePayload, 'stream' | 'line' | 'truncated'>;

/**
 * The output lines of one execution, on `guardkit.logs.<build_id>` (SPEC 6.3): each line at most
 * LOG_LINE_MAX_CHARS (longer ones cut and marked), at most LOG_LINES_PER_SECOND (a token bucket with a
 * second's burst; lines past it are counted and said in one line once there is room). Lines are published as
 * they come, in order; `close()` waits until NATS has them.
 */
export class LogSink {
  private static readonly logger = new Logger(LogSink.name);
  private tokens: number;
  private refilledAt: number;
  private dropped = 0;
  private lineNo = 0;
  private pending: Promise<unknown> = Promise.resolve();
  private failed = false;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly subject: string,
    private readonly origin: LogOrigin,
    private readonly limits: { maxChars: number; perSecond: number },
    private readonly now: () => number = Date.now,
    /** Unique to this sink among the build's: lines of two sinks never share a `Nats-Msg-Id`. */
    private readonly msgIdPrefix = `${origin.build_id}.${origin.seq}.${origin.attempt}`,
  ) {
    this.tokens = limits.perSecond;
    this.refilledAt = now();
  }

  write(stream: LogLinePayload['stream'], line: string): void {
    const t = this.now();
    this.tokens = Math.min(
      this.limits.perSecond,
      this.tokens + ((t - this.refilledAt) / 1000) * this.limits.perSecond,
    );
    this.refilledAt = t;
    if (this.tokens < 1) {
      this.dropped++;
      return;
    }
    this.tokens -= 1;
    if (this.dropped > 0) this.flushDropped();
    this.send(stream, line);
  }

  async close(): Promise<void> {
    if (this.dropped > 0) this.flushDropped();
    await this.pending;
  }

  private flushDropped(): void {
    this.send(
      'runner',
      `[guardkit] ${this.dropped} lines dropped (more than ${this.limits.perSecond} a second)`,
    );
    this.dropped = 0;
  }

  private send(stream: LogLinePayload['stream'], text: string): void {
    const truncated = text.length > this.limits.maxChars;
    const payload: LogLinePayload = {
      ...this.origin,
      stream,
      line: truncated ? `${text.slice(0, this.limits.maxChars)}…` : text,
      truncated,
    };
    const n = ++this.lineNo;
    const envelope = createEnvelope({ source_id: 'guardkit-orchestrator', event_type: 'log_line', payload });
    const msgId = `${this.msgIdPrefix}.${n}`;
    // Chained, so lines reach the stream in order; a line NATS refuses is lost (said once), never retried
    // at the cost of the process's output.
    this.pending = this.pending.then(() =>
      this.publisher.publish(this.subject, envelope, { msgId }).catch((error: unknown) => {
        if (this.failed) return;
        this.failed = true;
        LogSink.logger.warn(
          { err: error, build_id: this.origin.build_id },
          'output lines could not be published',
        );
      }),
    );
  }
}
