// The operators' pages: agent sessions with their staleness, files the ingestor refused, and the agent queues.
// None of these has a stream: each loads when opened, and again with its Refresh button.
import { api, explain } from './api.js';
import { badge, cells, h, table, timeOf } from './dom.js';

function page(main, title, intro, load) {
  const note = h('p', { class: 'sub', role: 'status' });
  const body = h('div');
  const refresh = async () => {
    note.textContent = 'loading…';
    try {
      body.replaceChildren(await load());
      note.textContent = `Loaded ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      note.textContent = explain(error);
    }
  };
  main.replaceChildren(
    h('h1', {}, title),
    h('p', { class: 'sub' }, intro),
    h('button', { type: 'button', onclick: refresh }, 'Refresh'),
    note,
    body,
  );
  void refresh();
  return () => undefined;
}

/** A table of `items`, one row each of the cells `valuesOf` gives; `empty` while there are none. */
function tableOf(columns, empty, items, valuesOf) {
  const list = table(columns, empty);
  if (items.length)
    list.body.replaceChildren(...items.map((item) => h('tr', {}, cells(columns, valuesOf(item)))));
  return list.el;
}

export function mountSessions(main) {
  const columns = [
    'Session',
    'Agent',
    'Workspace / thread',
    'Runtime',
    'tmux target',
    'Last heartbeat',
    'State',
  ];
  return page(
    main,
    'Sessions',
    'Agent sessions the orchestrator can wake; stale after 12 hours without a heartbeat.',
    async () => {
      const { items } = await api('/sessions');
      return tableOf(columns, 'No sessions registered.', items, (s) => [
        s.session_id,
        s.agent_id,
        `${s.workspace_id} / ${s.thread_id ?? '–'}`,
        s.runtime,
        h('code', {}, s.tmux_target),
        timeOf(s.last_heartbeat_at),
        s.deregistered_at ? badge('cancelled', 'deregistered') : s.stale ? badge('stale') : badge('ok'),
      ]);
    },
  );
}

export function mountRejections(main) {
  const columns = ['Received', 'Bridge', 'File', 'Reason', 'Problems'];
  return page(
    main,
    'Rejected files',
    'Files the ingestor refused, and why; the file stays where it was.',
    async () => {
      const { items } = await api('/ingest/rejections?limit=100');
      return tableOf(columns, 'No rejected files.', items, (r) => [
        timeOf(r.received_at),
        r.bridge,
        h('code', {}, r.path),
        r.reason,
        h(
          'ul',
          {},
          r.problems.map((p) => h('li', {}, p)),
        ),
      ]);
    },
  );
}

export function mountAgents(main) {
  const columns = ['Role', 'Queue', 'Workers', 'Jobs'];
  return page(
    main,
    'Agents',
    'The agent queues (one per role) and how many jobs each runs at once.',
    async () => {
      const { items } = await api('/agents');
      const list = tableOf(columns, 'No agent queues yet.', items, (a) => {
        const input = h('input', {
          type: 'number',
          min: 1,
          max: 100,
          value: a.concurrency,
          'aria-label': `Workers for ${a.role}`,
          style: 'width:5rem',
        });
        const said = h('span', { class: 'muted', role: 'status' });
        const set = h(
          'button',
          {
            type: 'button',
            onclick: async () => {
              try {
                await api(`/agents/${encodeURIComponent(a.role)}`, {
                  method: 'PUT',
                  body: { concurrency: Number(input.value) },
                });
                said.textContent = ' set';
              } catch (error) {
                said.textContent = ` ${explain(error)}`;
              }
            },
          },
          'Set',
        );
        return [
          a.role,
          h(
            'a',
            {
              href: `/admin/queues/queue/${encodeURIComponent(a.queue)}`,
              target: '_blank',
              rel: 'noopener',
            },
            a.queue,
          ),
          [input, ' ', set, said],
          Object.entries(a.counts)
            .filter(([, n]) => n > 0)
            .map(([state, n]) => `${state} ${n}`)
            .join(', ') || 'idle',
        ];
      });
      return h(
        'div',
        {},
        list,
        h(
          'p',
          { class: 'sub' },
          'Every queue, dead letters included, is on the ',
          h('a', { href: '/admin/queues', target: '_blank', rel: 'noopener' }, 'board'),
          '.',
        ),
      );
    },
  );
}
