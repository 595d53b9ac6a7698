import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventPublisher } from '#bus';
import type { Envelope, LogLinePayload } from '#contracts';
import { LogSink } from './log-sink.js';

function sink(limits: { maxChars: number; perSecond: number }, clock: { t: number }, fail = false) {
  const published: Array<{ payload: LogLinePayload; msgId: string }> = [];
  const publisher = {
    publish: (_subject: string, envelope: Envelope<LogLinePayload>, options: { msgId: string }) => {
      if (fail) return Promise.reject(new Error('NATS is away'));
      published.push({ payload: envelope.payload, msgId: options.msgId });
      return Promise.resolve({});
    },
  } as unknown as EventPublisher;
  const origin = {
    build_id: 'b1',
    seq: 3,
    attempt: 2,
    role: 'tester',
    task_id: 't',
    step_id: 's',
    action_id: 'a',
  };
  return { published, sink: new LogSink(publisher, 'guardkit.logs.b1', origin, limits, () => clock.t) };
}

describe('LogSink: output lines bounded in length and rate', () => {
  it('cuts a long line and marks it, and numbers lines in one Nats-Msg-Id space per execution', async () => {
    const { published, sink: s } = sink({ maxChars: 5, perSecond: 100 }, { t: 0 });
    s.write('stdout', '123456789');
    s.write('stderr', 'ok');
    await s.close();
    assert.deepEqual(
      published.map((p) => [p.payload.line, p.payload.truncated, p.payload.stream, p.msgId]),
      [
        ['12345…', true, 'stdout', 'b1.3.2.1'],
        ['ok', false, 'stderr', 'b1.3.2.2'],
      ],
    );
  });

  it('past LOG_LINES_PER_SECOND, lines are counted and said once there is room again', async () => {
    const clock = { t: 0 };
    const { published, sink: s } = sink({ maxChars: 100, perSecond: 2 }, clock);
    for (let i = 0; i < 5; i++) s.write('stdout', `line ${i}`);
    clock.t = 1000; // a second later: room for two
    s.write('stdout', 'later');
    await s.close();
    assert.deepEqual(
      published.map((p) => p.payload.line),
      ['line 0', 'line 1', '[guardkit] 3 lines dropped (more than 2 a second)', 'later'],
    );
  });

  it('a publish NATS refuses loses that line, never the process`s output or the order of the rest', async () => {
    const { published, sink: s } = sink({ maxChars: 100, perSecond: 100 }, { t: 0 }, true);
    s.write('stdout', 'lost');
    await s.close(); // does not throw
    assert.deepEqual(published, []);
  });
});
