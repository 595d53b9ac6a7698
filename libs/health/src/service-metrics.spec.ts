import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceMetrics } from './service-metrics.js';

const valueOf = (text: string, series: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${series} `))
      ?.slice(series.length + 1),
  );

describe('ServiceMetrics: CPU per event handled', () => {
  it('is the CPU spent since the previous scrape over the events handled since, and 0 without events', async () => {
    const metrics = new ServiceMetrics('spec');
    await metrics.scrape(); // the window starts here
    metrics.eventsHandled('builds', 4);
    // 40 ms of this process's CPU, however busy the machine (a wall-clock loop got less CPU under load)
    const start = process.cpuUsage();
    const spent = () => {
      const used = process.cpuUsage(start);
      return (used.user + used.system) / 1000;
    };
    while (spent() < 40);
    const text = await metrics.scrape();
    assert.equal(valueOf(text, 'guardkit_events_handled_total{kind="builds"}'), 4);
    const perEvent = valueOf(text, 'guardkit_cpu_ms_per_event');
    assert.ok(
      perEvent >= 10 && perEvent < 40,
      `at least 40 ms over 4 events, and not much more: ${perEvent}`,
    );
    const quiet = await metrics.scrape();
    assert.equal(valueOf(quiet, 'guardkit_cpu_ms_per_event'), 0, 'no event since');
    assert.equal(valueOf(quiet, 'guardkit_events_handled_total{kind="builds"}'), 4, 'a total, not a window');
    assert.match(text, /^guardkit_spec_nodejs_eventloop_lag_p99_seconds /m);
    metrics.eventsHandled('builds', 2);
    metrics.eventsHandled('progress');
    const later = await metrics.scrape();
    assert.equal(valueOf(later, 'guardkit_events_handled_total{kind="builds"}'), 6);
    assert.equal(valueOf(later, 'guardkit_events_handled_total{kind="progress"}'), 1);
  });
});
