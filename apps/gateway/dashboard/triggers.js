// Triggers (SPEC 5): the newest with their attempts and decisions, live, and a form to wake an agent.
import { api, explain } from './api.js';
import { badge, cells, h, table, timeOf } from './dom.js';
import { LiveStream } from './live.js';

const COLUMNS = ['Created', 'Agent', 'Workspace / thread', 'State', 'Decision', 'Attempts', 'Reason'];

export function mountTriggers(main) {
  const list = table(COLUMNS, 'No triggers yet.');
  const rows = new Map();
  const views = new Map(); // trigger id → what the page knows of it
  const note = h('p', { class: 'sub', role: 'status' });
  const field = (name, label, attrs = {}) => {
    const input = h(attrs.rows ? 'textarea' : 'input', { name, required: true, ...attrs });
    return { input, label: h('label', { class: attrs.rows ? 'wide' : '' }, label, input) };
  };
  const agent = field('target_agent_id', 'Agent', { placeholder: 'agent-1' });
  const workspace = field('workspace_id', 'Workspace', { placeholder: 'ws-1' });
  const thread = field('thread_id', 'Thread', { placeholder: 'thread-1' });
  const reason = field('reason', 'Reason', { placeholder: 'new review comments', maxlength: 1000 });
  const prompt = field('prompt', 'Prompt (typed into the agent’s session)', { rows: 3, maxlength: 65536 });
  const result = h('p', { class: 'sub', role: 'status' });
  const form = h(
    'form',
    { class: 'inline card' },
    agent.label,
    workspace.label,
    thread.label,
    reason.label,
    prompt.label,
    h('button', { type: 'submit', class: 'primary' }, 'Wake the agent'),
    result,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api('/triggers', {
        method: 'POST',
        body: {
          target_agent_id: agent.input.value.trim(),
          workspace_id: workspace.input.value.trim(),
          thread_id: thread.input.value.trim(),
          reason: reason.input.value,
          prompt: prompt.input.value,
        },
      });
      result.textContent = `Trigger ${created.trigger_id}: ${created.decision}.`;
      await refresh(created.trigger_id);
    } catch (error) {
      result.textContent = explain(error);
    }
  });
  main.replaceChildren(
    h('h1', {}, 'Triggers'),
    h('h2', {}, 'Wake an agent'),
    form,
    h('h2', {}, 'Newest'),
    note,
    list.el,
  );

  function show(update) {
    const t = { attempts: [], reason: '', ...views.get(update.trigger_id), ...update };
    views.set(t.trigger_id, t);
    let tr = rows.get(t.trigger_id);
    if (!tr) {
      if (rows.size === 0) list.body.replaceChildren();
      tr = h('tr', { dataset: { trigger: t.trigger_id } });
      rows.set(t.trigger_id, tr);
      const after = [...list.body.children].find((other) => other.dataset.created < t.created_at);
      list.body.insertBefore(tr, after ?? null);
    }
    tr.dataset.created = t.created_at;
    const attempts = t.attempts ?? [];
    tr.replaceChildren(
      ...cells(COLUMNS, [
        timeOf(t.created_at),
        t.target_agent_id,
        `${t.workspace_id} / ${t.thread_id}`,
        badge(t.state),
        t.decision,
        attempts.length
          ? h(
              'details',
              {},
              h('summary', {}, `${attempts.length}`),
              h(
                'ol',
                {},
                attempts.map((a) =>
                  h(
                    'li',
                    {},
                    `${a.step}: ${a.result ?? 'running'}${a.error_code ? ` (${a.error_code})` : ''}`,
                  ),
                ),
              ),
            )
          : '0',
        [
          t.reason,
          t.last_error ? h('span', { class: 'name' }, `${t.last_error.code}: ${t.last_error.message}`) : null,
        ],
      ]),
    );
  }

  async function refresh(triggerId) {
    try {
      show(await api(`/triggers/${encodeURIComponent(triggerId)}`));
    } catch {
      // the stream's event showed it already; its attempts come with the next change
    }
  }

  const stream = new LiveStream(
    '/triggers/events',
    ['trigger', 'reset'],
    (_name, envelope) => {
      const p = envelope.payload;
      const known = rows.has(p.trigger_id);
      show(known ? p : { created_at: envelope.timestamp, ...p });
      void refresh(p.trigger_id); // its attempts, which the event does not carry
      if (!known) note.textContent = '';
    },
    { onRefused: (error) => (note.textContent = `Live changes: ${explain(error)}`) },
  );
  api('/triggers?limit=100')
    .then((all) => {
      for (const t of all) show(t);
      note.textContent = all.length ? '' : 'No triggers yet.';
    })
    .catch((error) => (note.textContent = `Triggers could not be loaded: ${explain(error)}`));
  return () => stream.close();
}
