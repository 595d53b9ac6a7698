// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML.

/** An element: h('a', {href: '#/'}, 'text', child…). `on*` attributes become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A progress bar that screen readers announce. */
export function progressBar(pct, big = false) {
  const value = Math.max(0, Math.min(100, Number(pct) || 0));
  return h(
    'span',
    {
      class: big ? 'bar big' : 'bar',
      role: 'progressbar',
      'aria-valuenow': value,
      'aria-valuemin': 0,
      'aria-valuemax': 100,
    },
    h('i', { style: `width:${value}%` }),
  );
}

export function badge(text, extra = '') {
  return h('span', { class: `badge ${text} ${extra}`.trim() }, text);
}

/** A time in the viewer's zone: the time of day, with the full date in the tooltip. */
export function timeOf(iso) {
  if (!iso) return h('span', { class: 'muted' }, '–');
  const date = new Date(iso);
  return h('time', { datetime: date.toISOString(), title: date.toLocaleString() }, date.toLocaleTimeString());
}

/** 95 → "1m 35s". */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hours = Math.floor(m / 60);
  return `${hours}h ${m % 60}m`;
}

export function fraction(a, b) {
  return b ? `${a ?? 0}/${b}` : '–';
}

/** A table with a header row; each row's cells carry their column name for the phone layout. */
export function table(columns, empty) {
  const body = h('tbody', {}, h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, empty)));
  const el = h(
    'table',
    { class: 'list' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    body,
  );
  return { el, body, columns };
}

export function cells(columns, values) {
  return values.map((value, i) => h('td', { 'data-label': columns[i] }, value));
}
