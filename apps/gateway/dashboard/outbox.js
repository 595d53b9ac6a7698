// The outbox feed (AutoAppDev's runtime/outbox and POST /api/outbox), by source, with a box to post a message.
import { api, explain } from './api.js';
import { h, timeOf } from './dom.js';
import { LiveStream } from './live.js';

export function mountOutbox(main) {
  const shown = new Set(); // stream sequences on the page: a message is shown once
  const sources = new Set();
  let source = '';
  const list = h('ul', { class: 'messages', 'aria-live': 'polite' });
  const note = h('p', { class: 'sub', role: 'status' });
  const pick = h('select', { 'aria-label': 'Source' });
  pick.addEventListener('change', () => {
    source = pick.value;
    for (const li of list.children) li.hidden = source !== '' && li.dataset.source !== source;
  });
  const role = h(
    'select',
    { name: 'role' },
    h('option', { value: 'pipeline' }, 'pipeline'),
    h('option', { value: 'system' }, 'system'),
  );
  const content = h('textarea', { name: 'content', rows: 2, required: true, maxlength: 65536 });
  const result = h('p', { class: 'sub', role: 'status' });
  const form = h(
    'form',
    { class: 'inline card' },
    h('label', { class: 'wide' }, 'Message (posted as source api)', content),
    h('label', {}, 'Role', role),
    h('button', { type: 'submit', class: 'primary' }, 'Post'),
    result,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/outbox', { method: 'POST', body: { role: role.value, content: content.value } });
      content.value = '';
      result.textContent = 'Posted; it appears below when it is on the stream.';
    } catch (error) {
      result.textContent = explain(error);
    }
  });
  main.replaceChildren(
    h('h1', {}, 'Outbox'),
    form,
    h('div', { class: 'filters' }, h('label', {}, 'Source', pick)),
    note,
    list,
  );

  function show(m) {
    if (shown.has(m.seq)) return;
    shown.add(m.seq);
    if (!sources.has(m.source)) {
      sources.add(m.source);
      pick.replaceChildren(
        h('option', { value: '' }, 'all'),
        ...[...sources].sort().map((s) => h('option', { value: s }, s)),
      );
      pick.value = source;
    }
    const li = h(
      'li',
      { dataset: { source: m.source } },
      h(
        'div',
        { class: 'meta' },
        timeOf(m.created_at),
        ` · ${m.source} · ${m.role}${m.truncated ? ' · truncated' : ''}`,
      ),
      h('div', { class: 'content' }, m.content),
    );
    li.hidden = source !== '' && m.source !== source;
    li.dataset.seq = String(m.seq);
    // newest first, wherever it came from (the list and the stream overlap)
    const after = [...list.children].find((other) => Number(other.dataset.seq) < m.seq);
    list.insertBefore(li, after ?? null);
    note.textContent = '';
  }

  // the stream first, then the list, so nothing posted in between is missed; the sequence keeps each once
  const stream = new LiveStream(
    '/outbox/events',
    ['outbox', 'reset'],
    (_name, envelope, id) => show({ seq: id, ...envelope.payload, created_at: envelope.timestamp }),
    { onRefused: (error) => (note.textContent = `Live messages: ${explain(error)}`) },
  );
  api('/api/outbox?limit=100')
    .then((answer) => {
      for (const m of answer.messages) show(m);
      note.textContent = answer.messages.length ? '' : 'No messages yet.';
    })
    .catch((error) => (note.textContent = `The feed could not be loaded: ${explain(error)}`));
  return () => stream.close();
}
