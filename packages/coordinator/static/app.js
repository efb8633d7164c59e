// The ops dashboard page: reads /api/stream (server-sent events, one OpsSnapshot a second) and
// redraws the cluster map, the charts (uPlot, served by the coordinator from node_modules), the hot
// list and the trace list; a trace's waterfall comes from /api/traces/<id>. Plain browser JS.
(function () {
  'use strict';
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k === 'dataset') Object.assign(e.dataset, v); else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  const ranges = (v) => {
    const s = [...v].sort((a, b) => a - b); const out = [];
    for (let i = 0; i < s.length;) { let j = i; while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++; out.push(j === i ? `${s[i]}` : `${s[i]}-${s[j]}`); i = j + 1; }
    return out.join(',') || '-';
  };

  const charts = {};
  function chart(id, label, series) {
    const target = $(id);
    const opts = {
      width: Math.max(300, target.clientWidth), height: 180,
      scales: { x: { time: true } },
      series: [{}, ...series.map(([name, color]) => ({ label: name, stroke: color, width: 2, spanGaps: true }))],
      axes: [{}, { label }],
      legend: { live: false },
    };
    const data = [[], ...series.map(() => [])];
    charts[id] = new uPlot(opts, data, target);
  }
  chart('#chart-throughput', 'calls/s', [['calls', '#2a62c9'], ['errors', '#d64545']]);
  chart('#chart-latency', 'ms', [['p50', '#2a9d5c'], ['p99', '#e08a1e']]);
  chart('#chart-aborts', 'aborts/s', [['aborts', '#d64545']]);
  window.addEventListener('resize', () => { for (const id in charts) charts[id].setSize({ width: Math.max(300, $(id).clientWidth), height: 180 }); });

  let selected;
  let shownSpans = 0;
  let last;

  function render(s) {
    last = s;
    const c = s.cluster;
    $('#cluster-line').textContent = `cluster ${c.clusterId || '-'} · config v${c.configVersion} · ${c.numShards} shards · ${c.workers.filter((w) => w.alive).length}/${c.workers.length} workers alive`;
    const rate = new Map(s.workers.map((w) => [w.workerId, w]));
    const tbody = $('#workers tbody');
    tbody.replaceChildren(...c.workers.map((w) => {
      const m = rate.get(w.id);
      return el('tr', { dataset: { worker: w.id } },
        el('td', {}, w.id), el('td', { class: w.alive ? '' : 'dead' }, w.alive ? 'yes' : 'NO'),
        el('td', {}, ranges(w.heads)), el('td', {}, ranges(w.replicas)),
        el('td', {}, m ? m.callsPerSec : '-'), el('td', {}, m ? m.queueDepth : '-'),
        el('td', {}, m ? `${Math.round(m.threadUtilization * 100)} %` : '-'),
        el('td', {}, m && m.chainLagMs !== undefined ? `${m.chainLagMs} ms` : '-'), el('td', {}, w.pid || '-'));
    }));
    $('#shards').replaceChildren(...c.shards.map((sh) => el('div', { class: 'shard', dataset: { shard: sh.shard } },
      el('span', { class: 'epoch' }, `epoch ${sh.epoch}`), `#${sh.shard} `,
      ...(sh.chain.length ? sh.chain.map((w, i) => i === 0 ? el('b', { title: 'head' }, w) : ` → ${w}`) : ['(unassigned)']))));

    const t = s.series.t;
    charts['#chart-throughput'].setData([t, s.series.calls, s.series.errors]);
    charts['#chart-latency'].setData([t, s.series.p50Ms, s.series.p99Ms]);
    charts['#chart-aborts'].setData([t, s.series.aborts]);
    const reasons = Object.entries(s.aborts).map(([r, n]) => `${r}: ${n}`).join(' · ');
    $('#abort-reasons').textContent = reasons ? `by reason: ${reasons}` : 'no aborts';

    $('#hot tbody').replaceChildren(...(s.hot.length ? s.hot.map((h) => el('tr', {}, el('td', {}, h.object), el('td', {}, h.callsPerSec)))
      : [el('tr', {}, el('td', { colspan: 2, class: 'note' }, 'no calls in the last 10 s'))]));

    $('#trace-list').replaceChildren(...s.traces.map((tr) => {
      const badge = tr.error ? el('span', { class: 'badge error' }, tr.error) : tr.slow ? el('span', { class: 'badge slow' }, 'slow') : el('span', { class: 'badge ok' }, 'ok');
      const li = el('li', { dataset: { trace: tr.traceId }, class: tr.traceId === selected ? 'selected' : '' },
        badge, `${tr.object || tr.root} `, el('span', { class: 'note' }, `${tr.durationMs} ms · ${tr.spans} spans`));
      li.addEventListener('click', () => select(tr.traceId));
      return li;
    }));
    if (!selected && s.traces.length) select(s.traces[0].traceId);
    // Spans of one trace arrive from several workers, a batch a second each: redraw as they come.
    const current = s.traces.find((tr) => tr.traceId === selected);
    if (current && current.spans !== shownSpans) select(selected);
  }

  async function select(traceId) {
    selected = traceId;
    for (const li of document.querySelectorAll('#trace-list li')) li.classList.toggle('selected', li.dataset.trace === traceId);
    const res = await fetch(`/api/traces/${encodeURIComponent(traceId)}`);
    if (!res.ok) { $('#waterfall').replaceChildren(el('p', { class: 'note' }, 'this trace is no longer kept')); return; }
    const { spans } = await res.json();
    if (traceId !== selected) return; // another one was picked meanwhile
    shownSpans = spans.length;
    waterfall(traceId, spans);
  }

  function waterfall(traceId, spans) {
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const depth = (s) => { let d = 0; for (let p = byId.get(s.parentSpanId); p && d < 32; p = byId.get(p.parentSpanId)) d++; return d; };
    const children = new Map();
    for (const s of spans) { const k = byId.has(s.parentSpanId) ? s.parentSpanId : ''; if (!children.has(k)) children.set(k, []); children.get(k).push(s); }
    const ordered = [];
    const walk = (k) => { for (const s of (children.get(k) || []).sort((a, b) => a.startMs - b.startMs)) { ordered.push(s); walk(s.spanId); } };
    walk('');
    const t0 = Math.min(...spans.map((s) => s.startMs));
    const t1 = Math.max(...spans.map((s) => s.startMs + s.durationMs));
    const total = Math.max(0.001, t1 - t0);
    const rows = ordered.map((s) => {
      const attrs = Object.entries(s.attributes).map(([k, v]) => `${k.replace('lambdastore.', '')}=${v}`).join(' ');
      const bar = el('div', { class: 'bar', title: `${s.name} ${attrs}` });
      bar.style.left = `${((s.startMs - t0) / total) * 100}%`;
      bar.style.width = `${Math.max(0.2, (s.durationMs / total) * 100)}%`;
      const name = el('div', { class: 'name', title: attrs }, `${s.name}${s.error ? ` (${s.error})` : ''} · ${s.service}`);
      name.style.paddingLeft = `${depth(s) * 12}px`;
      return el('div', { class: `span-row${s.error ? ' error' : ''}`, dataset: { span: s.name } }, name, el('div', { class: 'track' }, bar), el('div', { class: 'dur' }, `${s.durationMs.toFixed(2)} ms`));
    });
    $('#waterfall').replaceChildren(el('p', { class: 'note' }, `trace ${traceId} · ${total.toFixed(2)} ms`), ...rows);
  }

  function connect() {
    const es = new EventSource('/api/stream');
    es.onopen = () => { $('#live').className = 'live on'; $('#live-text').textContent = 'live'; };
    es.onmessage = (ev) => render(JSON.parse(ev.data));
    es.onerror = () => { $('#live').className = 'live off'; $('#live-text').textContent = 'reconnecting'; };
  }
  connect();
  window.lambdastoreDashboard = { charts, snapshot: () => last };
})();
