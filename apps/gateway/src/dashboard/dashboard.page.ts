/**
 * The dashboard: every build with its progress, updated live over `/events`. One static page with no build
 * step; it uses only the public API (GET /builds and SSE), so it doubles as an example client.
 */
export const DASHBOARD_HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>guardkit-stream</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d232a; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  p.sub { color: #5b6570; margin: 0 0 1.2rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px #0002; }
  th, td { text-align: left; padding: .5rem .7rem; border-bottom: 1px solid #e6e8eb; vertical-align: middle; }
  th { font-weight: 600; color: #5b6570; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
  .bar { width: 160px; height: 8px; background: #e6e8eb; border-radius: 4px; overflow: hidden; display: inline-block; vertical-align: middle; }
  .bar > i { display: block; height: 100%; background: #2f7de1; transition: width .3s; }
  .status { font-weight: 600; }
  .completed { color: #1a7f37; } .failed { color: #cf222e; } .cancelled { color: #6e7781; } .running { color: #2f7de1; }
  #conn { font-size: .8rem; color: #5b6570; }
  td.empty { color: #5b6570; text-align: center; padding: 2rem; }
</style>
</head>
<body>
<h1>guardkit-stream</h1>
<p class="sub">Builds, live. <span id="conn">connecting…</span></p>
<table>
  <thead><tr><th>Build</th><th>Status</th><th>Progress</th><th>Wave</th><th>Turn</th><th>Phase</th><th>Tests</th><th>Updated</th></tr></thead>
  <tbody id="builds"><tr><td class="empty" colspan="8">No builds yet. Run <code>npm run demo</code>.</td></tr></tbody>
</table>
<script>
const rows = new Map();
const tbody = document.getElementById('builds');
const conn = document.getElementById('conn');
let source = null;
let watched = '';

function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; }

function render(p) {
  let tr = rows.get(p.build_id);
  if (!tr) {
    if (rows.size === 0) tbody.textContent = '';
    tr = document.createElement('tr');
    rows.set(p.build_id, tr);
    tbody.prepend(tr);
  }
  const bar = document.createElement('td');
  const outer = document.createElement('span'); outer.className = 'bar';
  const inner = document.createElement('i'); inner.style.width = (p.progress_pct ?? 0) + '%';
  outer.append(inner); bar.append(outer, ' ' + (p.progress_pct ?? 0) + '%');
  const m = p.metrics || {};
  tr.replaceChildren(
    cell(p.build_id + (p.task_name ? ' - ' + p.task_name : '')),
    cell(p.status, 'status ' + p.status), bar,
    cell(p.wave + '/' + p.wave_total), cell(p.turn + '/' + p.turn_max),
    cell(p.phase + (p.phase_status ? ' (' + p.phase_status + ')' : '')),
    cell((m.tests_passed ?? 0) + '/' + (m.tests_total ?? 0)),
    cell(new Date(p.updated_at).toLocaleTimeString()));
}

function subscribe(ids) {
  const key = ids.join(',');
  if (key === watched) return;
  watched = key;
  if (source) source.close();
  source = null;
  if (ids.length === 0) { conn.textContent = 'no active builds'; return; }
  source = new EventSource('/events?builds=' + encodeURIComponent(key));
  source.onopen = () => { conn.textContent = 'live'; };
  source.onerror = () => {
    // After every build has ended the server answers the reconnect with 204 and EventSource closes.
    if (source && source.readyState === EventSource.CLOSED) { watched = ''; conn.textContent = 'up to date'; }
    else conn.textContent = 'reconnecting…';
  };
  const onStatus = (e) => render(JSON.parse(e.data).payload);
  source.addEventListener('status', onStatus);
  source.addEventListener('reset', onStatus);
  const running = new Set(ids);
  source.addEventListener('end', (e) => {
    running.delete(JSON.parse(e.data).build_id);
    if (running.size === 0) { source.close(); watched = ''; conn.textContent = 'up to date'; }
  });
}

async function refresh() {
  try {
    const page = await (await fetch('/builds?limit=100')).json();
    for (const b of [...page.items].reverse()) render(b.latest);
    subscribe(page.items.filter((b) => !['completed', 'failed', 'cancelled'].includes(b.status)).map((b) => b.build_id).sort());
  } catch (e) { conn.textContent = 'gateway unreachable'; }
}
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
`;
