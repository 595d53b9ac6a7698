// A build's page: where it stands, its timeline, its metrics over time, its live output, and for pipelines and
// workflows their own view (roles, rounds, artifacts) with the commands the token may use.
import { api, explain } from './api.js';
import { commands } from './config.js';
import { badge, cells, duration, fraction, h, progressBar, table, timeOf } from './dom.js';
import { LiveStream } from './live.js';
import * as store from './store.js';

const MAX_LOG_LINES = 10_000;

export function mountBuild(main, buildId) {
  const summary = h('div', { class: 'card' });
  const controls = h('div', { class: 'controls' });
  const controlNote = h('p', { class: 'sub', role: 'status' });
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Timeline' });
  const chart = h('div', { class: 'chart' });
  const details = h('div');
  const logs = logView();
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/' }, '← all builds')),
    h('h1', {}, buildId),
    summary,
    controls,
    controlNote,
    h('h2', {}, 'Timeline'),
    h('div', { class: 'card' }, timeline),
    h('h2', {}, 'Metrics'),
    h('div', { class: 'card' }, chart),
    details,
    h('h2', {}, 'Output'),
    logs.el,
  );

  const points = []; // {at, tests_passed, tests_total, files} per status event
  let lastPhase = '';
  let kind = 'task';
  let refreshTimer;

  function showSummary() {
    const view = store.builds.get(buildId);
    if (!view) {
      summary.replaceChildren(h('p', { class: 'muted' }, 'No status yet: waiting for its first event.'));
      return;
    }
    const p = view.latest;
    kind = p.build_type ?? 'task';
    summary.replaceChildren(
      p.task_name ? h('p', { class: 'sub' }, p.task_name) : '',
      h('p', {}, progressBar(p.progress_pct, true), ` ${p.progress_pct ?? 0}%`),
      h(
        'dl',
        { class: 'grid' },
        item('Status', [badge(p.status), store.isStale(view) ? [' ', badge('stale')] : null]),
        item('Kind', kind),
        item('Phase', `${p.phase || '–'}${p.phase_status ? ` (${p.phase_status})` : ''}`),
        item(
          kind === 'pipeline' ? 'Task' : kind === 'workflow' ? 'Stage' : 'Wave',
          fraction(p.wave, p.wave_total),
        ),
        item(
          kind === 'pipeline' ? 'Step' : kind === 'workflow' ? 'Round' : 'Turn',
          fraction(p.turn, p.turn_max),
        ),
        item('Elapsed', duration(store.elapsedMs(view))),
        item('Updated', timeOf(view.received_at)),
        item('Tests', fraction(p.metrics?.tests_passed, p.metrics?.tests_total)),
      ),
    );
    showControls(p.run_state ?? p.status);
  }

  let controlsFor = '';
  // the commands show only to a token that may run them (the gateway said 403 to the run's own view or a command)
  let mayRun = true;
  function refused() {
    mayRun = false;
    controlsFor = '';
    controls.replaceChildren();
    controlNote.textContent = 'This token may watch this build but not control it.';
  }
  function showControls(state) {
    // drawn again only when they change, so a focused button keeps its focus
    if (controlsFor === `${kind} ${state}`) return;
    controlsFor = `${kind} ${state}`;
    const ofKind = commands[kind];
    if (!ofKind || !mayRun) return controls.replaceChildren();
    controls.replaceChildren(
      ...Object.entries(ofKind).map(([command, states]) =>
        h(
          'button',
          {
            type: 'button',
            class: command === 'cancel' ? 'danger' : '',
            disabled: !states.includes(state),
            onclick: () => run(command),
          },
          command[0].toUpperCase() + command.slice(1),
        ),
      ),
    );
  }

  async function run(command) {
    controlNote.textContent = `${command}…`;
    try {
      await api(`/${kind}s/${encodeURIComponent(buildId)}/${command}`, { method: 'POST' });
      controlNote.textContent = `${command}: asked.`;
      if (command === 'retry' && statuses.closed) statuses = follow(); // it starts again under the same id
      refreshSoon();
    } catch (error) {
      if (error.status === 403) refused();
      else controlNote.textContent = explain(error);
    }
  }

  function onStatus(envelope, id) {
    const p = envelope.payload;
    store.remember({
      build_id: buildId,
      latest: p,
      received_at: envelope.timestamp,
      last_event_id: id ?? 0,
      stale: false,
    });
    const phase = `${p.status} · ${p.phase || '–'}${p.phase_status ? ` (${p.phase_status})` : ''}`;
    const where = [
      p.wave_total ? `${kindWord('wave')} ${p.wave}/${p.wave_total}` : '',
      p.turn_max ? `${kindWord('turn')} ${p.turn}/${p.turn_max}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    if (phase + where !== lastPhase) {
      lastPhase = phase + where;
      timeline.append(
        h(
          'li',
          {},
          timeOf(envelope.timestamp),
          h('span', {}, phase, where ? h('span', { class: 'name' }, where) : null),
        ),
      );
      timeline.scrollTop = timeline.scrollHeight;
    }
    const m = p.metrics ?? {};
    points.push({
      at: Date.parse(envelope.timestamp),
      tests: m.tests_passed ?? 0,
      total: m.tests_total ?? 0,
      files: (m.files_created ?? 0) + (m.files_modified ?? 0),
    });
    drawChart(chart, points);
    refreshSoon();
  }

  function kindWord(word) {
    if (kind === 'pipeline') return word === 'wave' ? 'task' : 'step';
    if (kind === 'workflow') return word === 'wave' ? 'stage' : 'round';
    return word;
  }

  /** The pipeline's or workflow's own view, fetched again when its status moves (not on a timer). */
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshDetails, 250);
  }
  let catchingUp = 0;
  async function refreshDetails() {
    if (kind !== 'pipeline' && kind !== 'workflow') return;
    let state;
    try {
      const view = await api(`/${kind}s/${encodeURIComponent(buildId)}`);
      state = view.state;
      details.replaceChildren(kind === 'pipeline' ? pipelineView(view) : workflowView(view));
    } catch (error) {
      if (error.status === 403) refused();
      details.replaceChildren(h('p', { class: 'sub' }, `${kind} details: ${explain(error)}`));
    }
    // the status event can come before the run's own record is final: look again a few times, then stop
    const status = store.builds.get(buildId)?.latest.status;
    if (state && store.isTerminal(status) && !store.isTerminal(state) && catchingUp++ < 5) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refreshDetails, 1000);
    }
  }

  const follow = () =>
    new LiveStream(
      `/builds/${encodeURIComponent(buildId)}/events`,
      ['status', 'reset'],
      (_name, envelope, id) => onStatus(envelope, id),
      {
        from: 0, // its whole retained history: the timeline
        onEnd: () => 'close',
      },
    );
  let statuses = follow();
  const output = new LiveStream(`/builds/${encodeURIComponent(buildId)}/logs`, ['log'], (_name, envelope) =>
    logs.add(envelope.payload),
  );

  const off = store.onBuilds((id) => {
    if (id === buildId || id === undefined) showSummary();
  });
  showSummary();
  if (!store.builds.has(buildId)) {
    api(`/builds/${encodeURIComponent(buildId)}`)
      .then((view) => store.remember(view))
      .catch((error) =>
        summary.replaceChildren(
          h(
            'p',
            { class: 'sub' },
            error.status === 404 ? 'No status yet: waiting for its first event.' : explain(error),
          ),
        ),
      );
  }
  const tick = setInterval(showSummary, 1000);
  return () => {
    off();
    clearInterval(tick);
    clearTimeout(refreshTimer);
    statuses.close();
    output.close();
  };
}

function item(name, value) {
  return h('div', {}, h('dt', {}, name), h('dd', {}, value));
}

/** Tests passed and files changed over time, as two lines. */
function drawChart(el, points) {
  if (!points.some((p) => p.tests || p.total || p.files)) {
    el.replaceChildren(h('p', { class: 'muted' }, 'This build reports no tests or files.'));
    return;
  }
  if (points.length < 2) {
    el.replaceChildren(h('p', { class: 'muted' }, 'The chart draws once there are two events.'));
    return;
  }
  const W = 600;
  const H = 140;
  const t0 = points[0].at;
  const span = Math.max(1, points.at(-1).at - t0);
  const top = Math.max(1, ...points.map((p) => Math.max(p.tests, p.total, p.files)));
  const line = (value) =>
    points
      .map(
        (p, i) =>
          `${i ? 'L' : 'M'}${(((p.at - t0) / span) * (W - 10) + 5).toFixed(1)},${(H - 5 - (value(p) / top) * (H - 10)).toFixed(1)}`,
      )
      .join('');
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const last = points.at(-1);
  svg.setAttribute('aria-label', `tests passed ${last.tests} of ${last.total}, files changed ${last.files}`);
  for (const [value, color] of [
    [(p) => p.tests, '#17703a'],
    [(p) => p.files, '#1f6fd1'],
  ]) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', line(value));
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', color);
    path.setAttribute('stroke-width', '2');
    path.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(path);
  }
  el.replaceChildren(
    svg,
    h(
      'div',
      { class: 'legend' },
      h('span', {}, h('i', { style: 'background:#17703a' }), `tests passed (${last.tests}/${last.total})`),
      h('span', {}, h('i', { style: 'background:#1f6fd1' }), `files changed (${last.files})`),
    ),
  );
}

/** The live output with follow and search. */
function logView() {
  const pre = h('pre', { class: 'logs', tabindex: 0, 'aria-label': 'Output lines', hidden: true });
  const follow = h('input', { type: 'checkbox', checked: true });
  const search = h('input', {
    type: 'search',
    placeholder: 'filter lines',
    'aria-label': 'Filter output lines',
  });
  const count = h('span', { class: 'muted', role: 'status' }, 'no output yet');
  let total = 0;
  const matches = (span) =>
    !search.value || span.textContent.toLowerCase().includes(search.value.toLowerCase());
  search.addEventListener('input', () => {
    let shown = 0;
    for (const span of pre.children) {
      span.hidden = !matches(span);
      if (!span.hidden) shown++;
    }
    count.textContent = search.value ? `${shown} of ${total} lines match` : `${total} lines`;
  });
  pre.addEventListener('scroll', () => {
    // scrolling up stops following; back at the bottom follows again
    follow.checked = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  });
  return {
    el: h(
      'div',
      {},
      h('div', { class: 'logs-tools' }, h('label', {}, follow, ' Follow'), search, count),
      pre,
    ),
    add(line) {
      total++;
      pre.hidden = false;
      const prefix = line.action_id ? `[${line.action_id}] ` : line.role ? `[${line.role}] ` : '';
      const span = h('span', { class: line.stream }, `${prefix}${line.line}\n`);
      span.hidden = !matches(span);
      pre.append(span);
      if (pre.childElementCount > MAX_LOG_LINES) pre.firstElementChild.remove();
      count.textContent = search.value ? count.textContent : `${total} lines`;
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
    },
  };
}

function pipelineView(run) {
  const c = run.current ?? {};
  return h(
    'section',
    {},
    h('h2', {}, 'Pipeline'),
    h(
      'div',
      { class: 'card' },
      h(
        'dl',
        { class: 'grid' },
        item('Title', run.title),
        item('State', [badge(run.state), run.requested ? ` (${run.requested} asked)` : '']),
        item('Task', c.task_title ?? c.task_id ?? '–'),
        item('Step', c.step_title ?? c.step_id ?? '–'),
        item('Action', c.action_id ? `${c.action_id} (${c.action_kind})` : '–'),
        item('Actions run', run.actions_run),
        item('Folder', h('code', {}, run.cwd)),
      ),
      run.failure
        ? h(
            'p',
            { class: 'sub' },
            `Failed at ${[run.failure.task_id, run.failure.step_id, run.failure.action_id].filter(Boolean).join(' / ')}: ${run.failure.reason}`,
          )
        : null,
      h('details', {}, h('summary', {}, 'Script'), h('pre', { class: 'artifact' }, run.source)),
    ),
  );
}

function workflowView(wf) {
  const roles = table(['Round', 'Node', 'Role', 'State', 'Attempts', 'Answer'], 'No roles yet.');
  if (wf.roles.length) roles.body.replaceChildren();
  for (const role of wf.roles) {
    const last = role.attempts.at(-1);
    const answer = last?.answer;
    roles.body.append(
      h(
        'tr',
        {},
        cells(roles.columns, [
          role.round,
          role.node,
          role.role,
          badge(role.state),
          role.attempts
            .map(
              (a) =>
                `${a.attempt}${a.model ? ` ${a.model}` : ''}: ${a.state}${a.detail ? ` (${a.detail})` : ''}`,
            )
            .join('; ') || '–',
          answer
            ? [
                badge(answer.status === 'OK' ? 'ok' : answer.status === 'BLOCKED' ? 'blocked' : 'paused', ''),
                ' ',
                answer.summary ?? '',
              ]
            : '–',
        ]),
      ),
    );
  }
  const artifact = h('div');
  const artifacts = h(
    'ul',
    {},
    wf.artifacts.map((a) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'link-like',
            onclick: async () => {
              try {
                const res = await fetch(
                  `/workflows/${encodeURIComponent(wf.workflow_id)}/artifacts/${encodeURIComponent(a.name)}`,
                  { credentials: 'same-origin' },
                );
                const text = await res.text();
                artifact.replaceChildren(h('h3', {}, a.name), diffView(text, a.name));
              } catch (error) {
                artifact.replaceChildren(h('p', {}, explain(error)));
              }
            },
          },
          a.name,
        ),
        h('span', { class: 'muted' }, ` ${a.content_type}, ${a.bytes} bytes`),
      ),
    ),
  );
  return h(
    'section',
    {},
    h('h2', {}, 'Workflow'),
    h(
      'div',
      { class: 'card' },
      h('p', {}, wf.description),
      h(
        'dl',
        { class: 'grid' },
        item('State', badge(wf.state)),
        item('Mode', wf.mode),
        item('Round', `${wf.round}/${wf.max_rounds}`),
        item('Now', wf.current ?? '–'),
        item('Folder', h('code', {}, wf.cwd)),
      ),
      wf.failure
        ? h(
            'p',
            { class: 'sub' },
            `Failed${wf.failure.node ? ` at ${wf.failure.node}` : ''} in round ${wf.failure.round}: ${wf.failure.reason}`,
          )
        : null,
      wf.notes.length
        ? h(
            'ul',
            {},
            wf.notes.map((n) => h('li', {}, n)),
          )
        : null,
    ),
    h('h2', {}, 'Roles and review rounds'),
    roles.el,
    h('h2', {}, 'Artifacts'),
    wf.artifacts.length ? artifacts : h('p', { class: 'muted' }, 'None yet.'),
    artifact,
  );
}

function diffView(text, name) {
  const pre = h('pre', { class: 'artifact' });
  const isDiff = name.endsWith('.diff') || name.endsWith('.patch');
  for (const line of text.split('\n')) {
    const cls = !isDiff
      ? ''
      : line.startsWith('@@')
        ? 'hunk'
        : line.startsWith('+')
          ? 'add'
          : line.startsWith('-')
            ? 'del'
            : '';
    pre.append(h('span', { class: cls }, `${line}\n`));
  }
  return pre;
}
