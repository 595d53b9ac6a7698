// The builds list: every kind, live, with filters and search.
import { explain } from './api.js';
import { badge, cells, duration, fraction, h, progressBar, table, timeOf } from './dom.js';
import * as store from './store.js';

const COLUMNS = ['Build', 'Kind', 'Status', 'Progress', 'Phase', 'Wave', 'Turn', 'Elapsed', 'Updated'];

export function mountBuilds(main) {
  const filters = { status: '', kind: '', project: '', search: '' };
  const status = select(
    'Status',
    ['', 'queued', 'running', 'completed', 'failed', 'cancelled'],
    (v) => (filters.status = v),
  );
  const kind = select('Kind', [''], (v) => (filters.kind = v));
  const project = select('Project', [''], (v) => (filters.project = v));
  const search = h('input', {
    type: 'search',
    placeholder: 'build id or name',
    'aria-label': 'Search builds',
  });
  search.addEventListener('input', () => {
    filters.search = search.value.trim().toLowerCase();
    render();
  });
  const more = h(
    'button',
    { type: 'button', hidden: true, onclick: () => store.loadPage(store.nextCursor) },
    'Load older builds',
  );
  const note = h('p', { class: 'sub', role: 'status' });
  const list = table(COLUMNS, 'No builds yet. Run npm run demo, or start a pipeline.');
  const rows = new Map();

  main.replaceChildren(
    h('h1', {}, 'Builds'),
    h(
      'div',
      { class: 'filters', role: 'search' },
      status.label,
      kind.label,
      project.label,
      h('label', {}, 'Search', search),
    ),
    note,
    list.el,
    more,
  );

  function matches(view) {
    const p = view.latest;
    if (filters.status && p.status !== filters.status) return false;
    if (filters.kind && (p.build_type ?? 'task') !== filters.kind) return false;
    if (filters.project && (view.project ?? p.project ?? '') !== filters.project) return false;
    if (filters.search && !`${view.build_id} ${p.task_name ?? ''}`.toLowerCase().includes(filters.search))
      return false;
    return true;
  }

  function rowOf(view) {
    const p = view.latest;
    const stale = store.isStale(view);
    const link = h('a', { href: `#/builds/${encodeURIComponent(view.build_id)}` }, view.build_id);
    return cells(COLUMNS, [
      [link, p.task_name ? h('span', { class: 'name' }, p.task_name) : null],
      p.build_type ?? 'task',
      [badge(p.status), stale ? [' ', badge('stale')] : null],
      [progressBar(p.progress_pct), ` ${p.progress_pct ?? 0}%`],
      [p.phase ?? '', p.phase_status ? h('span', { class: 'name' }, p.phase_status) : null],
      fraction(p.wave, p.wave_total),
      fraction(p.turn, p.turn_max),
      duration(store.elapsedMs(view)),
      timeOf(view.received_at),
    ]);
  }

  function update(buildId, isNew) {
    const view = store.builds.get(buildId);
    if (!view) return;
    let tr = rows.get(buildId);
    if (!tr) {
      tr = h('tr', { dataset: { build: buildId } });
      rows.set(buildId, tr);
      if (isNew) {
        list.body.prepend(tr);
        tr.classList.add('fresh');
      } else list.body.append(tr);
    }
    tr.replaceChildren(...rowOf(view));
    tr.dataset.status = view.latest.status;
    tr.hidden = !matches(view);
  }

  function options() {
    const kinds = new Set(['task', 'pipeline', 'workflow']);
    const projects = new Set();
    for (const view of store.builds.values()) {
      if (view.latest.build_type) kinds.add(view.latest.build_type);
      const p = view.project ?? view.latest.project;
      if (p) projects.add(p);
    }
    kind.fill(['', ...kinds]);
    project.fill(['', ...projects]);
  }

  function render() {
    if (rows.size === 0 && store.builds.size > 0) list.body.replaceChildren();
    // newest activity first, as GET /builds lists them
    const ordered = [...store.builds.values()].sort((a, b) => b.last_event_id - a.last_event_id);
    for (const view of ordered) update(view.build_id, false);
    for (const view of ordered) list.body.append(rows.get(view.build_id));
    options();
    const shown = ordered.filter(matches).length;
    note.textContent = store.loadError
      ? `The list could not be loaded: ${explain(store.loadError)}`
      : `${shown} of ${ordered.length} builds shown; new builds and changes appear as they happen.`;
    // an id not among the builds loaded (an older one, or one not started yet): its page can still be opened
    const id = search.value.trim();
    if (shown === 0 && /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id)) {
      note.append(' ', h('a', { href: `#/builds/${encodeURIComponent(id)}` }, `Open build ${id}`));
    }
    more.hidden = !store.nextCursor;
  }

  const off = store.onBuilds((buildId, isNew) => {
    if (buildId === undefined) return render();
    if (rows.size === 0) list.body.replaceChildren();
    update(buildId, isNew);
    if (isNew) options();
  });
  render();
  // elapsed time and staleness move on without events
  const tick = setInterval(() => {
    for (const [buildId, tr] of rows) {
      const view = store.builds.get(buildId);
      if (view && !store.isTerminal(view.latest.status)) tr.replaceChildren(...rowOf(view));
    }
  }, 1000);
  return () => {
    off();
    clearInterval(tick);
  };

  function select(name, values, set) {
    const el = h('select', { 'aria-label': name });
    const label = h('label', {}, name, el);
    el.addEventListener('change', () => {
      set(el.value);
      render();
    });
    const fill = (all) => {
      const current = el.value;
      el.replaceChildren(...all.map((v) => h('option', { value: v }, v || 'all')));
      el.value = all.includes(current) ? current : '';
    };
    fill(values);
    return { label, fill };
  }
}
