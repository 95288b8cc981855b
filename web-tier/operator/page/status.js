// The status page's only script: renders /-/status.json snapshots, live from
// /-/status/events (Server-Sent Events), falling back to polling when the stream is closed.
// Every value from the server goes in through textContent: nothing is parsed as HTML.
'use strict';

const POLL_MS = 2000;

function $(id) {
  return document.getElementById(id);
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el('td', cell));
  return tr;
}

function fill(tableId, rows, emptyText, columns) {
  const body = $(tableId).tBodies[0];
  if (rows.length === 0) {
    const td = el('td', emptyText);
    td.colSpan = columns;
    const tr = document.createElement('tr');
    tr.className = 'empty';
    tr.append(td);
    body.replaceChildren(tr);
  } else {
    body.replaceChildren(...rows);
  }
}

function bytes(value) {
  if (typeof value !== 'number') return '–';
  const mib = value / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(2)} GiB` : `${mib.toFixed(1)} MiB`;
}

function duration(seconds) {
  if (typeof seconds !== 'number') return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function ms(value) {
  return typeof value === 'number' ? `${value.toFixed(value < 10 ? 2 : 0)} ms` : '–';
}

function renderHeader(status) {
  $('placement').textContent = status.placement.name;
  const loop = status.web.eventLoopDelayMs;
  $('web').textContent = `web pid ${status.web.pid} · ${status.web.node} · up ${duration(status.web.uptimeSeconds)} · RSS ${bytes(status.web.rssBytes)} · event-loop p99 ${ms(loop.p99Ms)} · dynamic: ${status.web.dynamic}`;
  $('in-flight').textContent = status.web.inFlight;
}

function renderTraffic(traffic) {
  $('rps').textContent = traffic.requestsPerSecond.toFixed(2);
  $('requests').textContent = traffic.requests;
  $('error-rate').textContent = `${(traffic.errorRate * 100).toFixed(1)} %`;
  const svg = $('spark');
  const ns = 'http://www.w3.org/2000/svg';
  const peak = Math.max(1, ...traffic.perSecond);
  const width = 300 / traffic.perSecond.length;
  const bars = [];
  traffic.perSecond.forEach((count, index) => {
    const errors = traffic.errorsPerSecond[index] || 0;
    for (const [value, className, base] of [[count - errors, 'ok', errors], [errors, 'err', 0]]) {
      if (value <= 0) continue;
      const rect = document.createElementNS(ns, 'rect');
      const height = (value / peak) * 46;
      rect.setAttribute('x', (index * width + 0.5).toFixed(2));
      rect.setAttribute('width', Math.max(width - 1, 0.5).toFixed(2));
      rect.setAttribute('y', (48 - (base / peak) * 46 - height).toFixed(2));
      rect.setAttribute('height', height.toFixed(2));
      rect.setAttribute('class', className);
      bars.push(rect);
    }
  });
  svg.replaceChildren(...bars);
}

function renderUpstreams(upstreams) {
  fill('upstreams', upstreams.map((upstream) => {
    const health = el('td', upstream.state || (upstream.healthy ? 'up' : 'down'), upstream.healthy ? 'up' : 'down');
    const restarts = upstream.workers.restarts;
    const workers = !upstream.workers.ok
      ? `unavailable: ${upstream.workers.error}`
      : `${upstream.workers.workers.length}` + (typeof restarts === 'number' ? ` · ${restarts} restart${restarts === 1 ? '' : 's'}` : '') +
        (upstream.workers.scope === 'worker' ? ' · one instance (pm2: each answers for itself)' : '');
    // The proxy reports 0 until the upstream's first answer: nothing measured yet.
    const latency = upstream.latencyMsEwma > 0 ? ms(upstream.latencyMsEwma) : '–';
    // WEB_ROUTES: which group (route prefix, or default) the upstream serves.
    const tr = row([el('td', upstream.group ? `${upstream.group} → ${upstream.url}` : upstream.url), health, latency, upstream.active ?? '–', upstream.failures ?? '–', upstream.lastError ?? '', workers]);
    tr.dataset.url = upstream.url;
    tr.dataset.healthy = String(upstream.healthy);
    if (upstream.group) tr.dataset.group = upstream.group;
    return tr;
  }), 'no app-tier upstream (embedded or CGI mode)', 7);
  const workerRows = [];
  for (const upstream of upstreams) {
    if (!upstream.workers.ok) continue;
    for (const worker of upstream.workers.workers) {
      const ready = worker.ready === undefined ? '–' : worker.ready ? 'yes' : 'no';
      workerRows.push(row([upstream.url, worker.pid, duration(worker.uptimeSeconds), worker.requests ?? '–', bytes(worker.rssBytes), ready]));
    }
  }
  fill('workers', workerRows, 'no worker report (the app tier answers /-/workers on loopback only by default)', 6);
}

function renderErrors(errors) {
  fill('errors', errors.map((error) => row([
    new Date(error.at).toLocaleTimeString(),
    el('td', error.status, 'status-5xx'),
    error.method,
    error.path,
    error.upstream ? `${error.route} → ${error.upstream}` : error.route,
    (() => { const td = document.createElement('td'); td.append(el('code', error.requestId)); return td; })(),
  ])), 'none in this process yet', 6);
}

function renderBench(bench) {
  const meta = $('bench-meta');
  if (bench === null || bench.error) {
    meta.textContent = bench === null ? '' : `(${bench.error})`;
    fill('bench', [], 'no bench result yet: npm run bench', 5);
    return;
  }
  meta.textContent = `(${[bench.startedAt, bench.commit && `commit ${bench.commit.slice(0, 10)}`, bench.node].filter(Boolean).join(' · ')})`;
  fill('bench', bench.rows.map((item) => row([
    item.name,
    item.status === 'ok' ? Math.round(item.rps).toLocaleString('en') : '–',
    ms(item.p99Ms),
    typeof item.peakRssMiB === 'number' ? `${item.peakRssMiB.toFixed(0)} MiB` : '–',
    item.status,
  ])), 'the bench result has no rows', 5);
}

function renderLimits(limits) {
  if (!limits) {
    fill('limits', [], 'not reported by this server', 7);
    return;
  }
  const busiest = limits.busiestPeer;
  fill('limits', [row([
    limits.maxConnectionsPerPeer > 0 ? limits.maxConnectionsPerPeer : 'off',
    `${limits.openConnections} (${limits.peersConnected})`,
    limits.refusedConnections,
    limits.ratePerSec > 0 ? `${limits.ratePerSec}/s · ${limits.rateBurst}` : 'off',
    el('td', limits.limitedRequests, limits.limitedRequests > 0 ? 'status-5xx' : undefined),
    `${limits.rateEntries} (${limits.rateEntriesEvicted})`,
    busiest ? `${busiest.address}: ${busiest.connections}` : '–',
  ])], '', 7);
}

function render(status) {
  renderHeader(status);
  renderTraffic(status.traffic);
  renderUpstreams(status.upstreams);
  renderErrors(status.recentErrors);
  renderLimits(status.limits);
  renderBench(status.bench);
  document.body.dataset.updated = status.generatedAt;
}

function setMode(mode, text) {
  const live = $('live');
  live.dataset.mode = mode;
  live.textContent = text;
}

let pollTimer;
function poll() {
  if (pollTimer !== undefined) return;
  setMode('polling', 'live (polling)');
  const once = () => {
    fetch('/-/status.json', { headers: { accept: 'application/json' } })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((status) => { render(status); setMode('polling', `live (polling) · ${new Date().toLocaleTimeString()}`); })
      .catch(() => setMode('offline', 'offline, retrying'));
  };
  once();
  pollTimer = setInterval(once, POLL_MS);
}

function stream() {
  if (typeof EventSource !== 'function') {
    poll();
    return;
  }
  const source = new EventSource('/-/status/events');
  source.addEventListener('status', (event) => {
    render(JSON.parse(event.data));
    setMode('sse', `live · ${new Date().toLocaleTimeString()}`);
  });
  source.addEventListener('error', () => {
    // CONNECTING: the browser retries by itself (the server sent `retry:`). CLOSED: it gave up.
    if (source.readyState === EventSource.CLOSED) poll();
    else setMode('offline', 'reconnecting…');
  });
}

stream();
