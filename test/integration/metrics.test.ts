import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { ServiceMetrics } from '#health';
import { ProgressFileWriter } from '#producers';
import { eventually, PipelineClient, progressUpdate, Stack, TestEnv } from '#test-support';

/** The value of one series in a Prometheus text exposition, or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** What each service shows on /metrics (docs/operations.md), after a little of everything went through. */
describe('metrics on every service', () => {
  let env: TestEnv;
  let stack: Stack;

  before(async () => {
    env = await TestEnv.create();
    stack = await Stack.start(env);
    await new ProgressFileWriter(env.root, 'TASK-METRICS').write(progressUpdate(1));
    const bad = join(env.root, '.guardkit', 'autobuild', 'TASK-METRICS-BAD');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'progress.json'), 'not json');
    await eventually(async () =>
      (await fetch(`${stack.baseUrl}/builds/TASK-METRICS`)).ok ? true : undefined,
    );
  });
  after(() => stack?.stop());

  const scrape = (app: { get: (token: typeof ServiceMetrics) => ServiceMetrics } | undefined) =>
    app!.get(ServiceMetrics).scrape();

  it('gateway: HTTP requests by route pattern and status, timed; SSE; its process', async () => {
    await fetch(`${stack.baseUrl}/builds/TASK-METRICS`);
    await fetch(`${stack.baseUrl}/builds/NO-SUCH-BUILD`);
    const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    assert.ok(
      (valueOf(text, 'guardkit_http_requests_total{method="GET",route="/builds/:id",status="200"}') ?? 0) >=
        1,
    );
    assert.ok(
      (valueOf(text, 'guardkit_http_requests_total{method="GET",route="/builds/:id",status="404"}') ?? 0) >=
        1,
    );
    assert.ok(
      (valueOf(text, 'guardkit_http_request_duration_seconds_count{method="GET",route="/builds/:id"}') ??
        0) >= 2,
    );
    assert.doesNotMatch(text, /route="\/builds\/TASK-METRICS"/, 'never the raw path');
    assert.match(text, /^guardkit_sse_live\{stream="builds"\} 1$/m);
    assert.match(text, /^guardkit_gateway_process_cpu_seconds_total /m);
    // issue 15: events read from the bus, CPU per event, the event loop's delay
    assert.ok((valueOf(text, 'guardkit_events_handled_total{kind="builds"}') ?? 0) >= 1);
    assert.match(text, /^guardkit_cpu_ms_per_event \d/m);
    assert.match(text, /^guardkit_gateway_nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('orchestrator: projection lag, queues (dead letters too), triggers, attempt durations, its process', async () => {
    const text = await eventually(async () => {
      const t = await scrape(stack.orchestrator);
      return valueOf(t, 'guardkit_projection_lag_events{projection="builds"}') === 0 ? t : undefined;
    });
    assert.equal(valueOf(text, 'guardkit_projection_lag_events{projection="outbox"}'), 0);
    assert.match(text, /^guardkit_queue_jobs\{queue="triggers",state="waiting"\} 0$/m);
    assert.match(text, /^guardkit_queue_jobs\{queue="triggers-dead",state="waiting"\} 0$/m);
    assert.match(text, /^guardkit_queue_oldest_waiting_seconds\{queue="triggers"\} 0$/m);
    assert.match(text, /^# HELP guardkit_triggers /m);
    assert.match(text, /^# HELP guardkit_trigger_attempt_duration_seconds /m);
    assert.match(text, /^guardkit_orchestrator_process_cpu_seconds_total /m);
    assert.ok((valueOf(text, 'guardkit_events_handled_total{kind="builds"}') ?? 0) >= 1);
    assert.match(text, /^guardkit_cpu_ms_per_event \d/m);
  });

  it('orchestrator: pipeline runs by state, the agent queues, action durations', async () => {
    const client = new PipelineClient(stack.baseUrl, env);
    const runId = await client.start({
      script_text:
        'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"run","params":{"cmd":"true"}}\n',
      cwd: await client.workspace(),
    });
    await client.until(runId, ['completed']);
    const text = await scrape(stack.orchestrator);
    assert.equal(valueOf(text, 'guardkit_pipeline_runs{state="completed"}'), 1);
    assert.equal(valueOf(text, 'guardkit_queue_jobs{queue="agents-implementer",state="completed"}'), 1);
    assert.equal(valueOf(text, 'guardkit_queue_jobs{queue="agents-tester",state="waiting"}'), 0);
    assert.equal(valueOf(text, 'guardkit_queue_oldest_waiting_seconds{queue="agents-planner"}'), 0);
    assert.equal(
      valueOf(text, 'guardkit_pipeline_action_duration_seconds_count{kind="run",state="succeeded"}'),
      1,
    );
  });

  it('ingestor: files by bridge and result, and the lag from write to publish', async () => {
    const text = await eventually(async () => {
      const t = await scrape(stack.ingestor);
      return (valueOf(t, 'guardkit_ingest_files_total{bridge="progress",result="rejected"}') ?? 0) >= 1
        ? t
        : undefined;
    });
    assert.ok((valueOf(text, 'guardkit_ingest_files_total{bridge="progress",result="published"}') ?? 0) >= 1);
    assert.ok((valueOf(text, 'guardkit_ingest_lag_seconds_count{bridge="progress"}') ?? 0) >= 1);
    assert.match(text, /^guardkit_ingestor_process_cpu_seconds_total /m);
    assert.ok((valueOf(text, 'guardkit_events_handled_total{kind="progress"}') ?? 0) >= 1);
    assert.match(text, /^guardkit_ingestor_nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('the alert rules and the Grafana dashboard use only metrics the services expose', async () => {
    const deploy = new URL('../../../deploy/observability/', import.meta.url);
    const alerts = parse(await readFile(new URL('prometheus-alerts.yaml', deploy), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const dashboard = JSON.parse(await readFile(new URL('grafana-dashboard.json', deploy), 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const exprs = [
      ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)),
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ];
    assert.ok(alerts.groups[0].rules.length >= 5 && dashboard.panels.length >= 10);
    const exposed = new Set<string>();
    const scrapes = [
      await (await fetch(`${stack.baseUrl}/metrics`)).text(),
      await scrape(stack.orchestrator),
      await scrape(stack.ingestor),
    ];
    for (const text of scrapes)
      for (const match of text.matchAll(/^# TYPE (guardkit_\w+) /gm)) exposed.add(match[1]);
    const used = new Set(
      exprs.flatMap((e) =>
        [...e.matchAll(/guardkit_\w+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')),
      ),
    );
    assert.deepEqual(
      [...used].filter((name) => !exposed.has(name)),
      [],
      'metrics no service exposes',
    );
  });
});
