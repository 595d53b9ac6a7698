import { Injectable } from '@nestjs/common';
import { STREAM_ROLES } from '#contracts';
import { Bus } from '#bus';
import { ServiceMetrics } from '#health';

/**
 * How full each JetStream stream is, read at scrape: messages, bytes and the byte limit (-1: none), and the
 * age of its oldest message, so an alert can say a stream is near its limits before it drops what a projection
 * has not read.
 */
@Injectable()
export class StreamMetrics {
  constructor(bus: Bus, metrics: ServiceMetrics) {
    const each = async (
      read: (info: Awaited<ReturnType<typeof bus.jsm.streams.info>>) => number,
      set: (labels: Record<string, string>, value: number) => void,
    ) => {
      for (const role of STREAM_ROLES) {
        const stream = bus.subjects.streamName(role);
        set({ stream }, read(await bus.jsm.streams.info(stream)));
      }
    };
    metrics.sample('guardkit_stream_messages', 'Messages in each stream', ['stream'], (set) =>
      each((info) => info.state.messages, set),
    );
    metrics.sample('guardkit_stream_bytes', 'Bytes in each stream', ['stream'], (set) =>
      each((info) => info.state.bytes, set),
    );
    metrics.sample(
      'guardkit_stream_max_bytes',
      "Each stream's byte limit (-1: none; STREAM_MAX_AGE_SECONDS bounds it then)",
      ['stream'],
      (set) => each((info) => info.config.max_bytes ?? -1, set),
    );
    metrics.sample(
      'guardkit_stream_oldest_seconds',
      'Age of the oldest message in each stream (0 when empty)',
      ['stream'],
      (set) =>
        each(
          (info) =>
            info.state.messages > 0 ? Math.max(0, (Date.now() - Date.parse(info.state.first_ts)) / 1000) : 0,
          set,
        ),
    );
  }
}
