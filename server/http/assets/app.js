// rib's read-only dashboard: plain DOM code, no framework, nothing loaded from
// elsewhere. Every value from the server enters the page through textContent or an
// attribute (never parsed as HTML), so no sweep or worker name can inject markup. The pages
// poll the coordinator's JSON API (/api/..., the same queries as the gRPC API) every
// POLL_MS, so results appear while a page is open.
'use strict';

const POLL_MS = 2000;
const TOKEN_KEY = 'rib_token';

// ---- DOM helpers ----
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function table(headers, rows, cls) {
  const t = el('table', {class: cls});
  const head = el('tr');
  for (const h of headers) head.append(typeof h === 'string' ? el('th', {text: h}) : h);
  t.append(el('thead', {}, head));
  const body = el('tbody');
  for (const r of rows) body.append(r);
  t.append(body);
  return t;
}
function short(state, prefix) { return (state || '').replace(prefix, '').toLowerCase(); }
function pct(a) { return (100 * a).toFixed(1); }
function signed(x, digits) { return (x >= 0 ? '+' : '') + x.toFixed(digits); }
function ago(iso) {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return s + ' s ago';
  if (s < 7200) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}
function setStatus(text, isError) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.className = isError ? 'error' : 'muted';
}

// ---- the diverging colour scale (changes in points) ----
// Blue for gains, orange for losses, white at zero: ColorBrewer's PuOr end colours,
// distinguishable with every common colour-vision deficiency. The number is always
// printed in the cell; the colour only repeats it.
const GAIN = [0x21, 0x66, 0xac], LOSS = [0xb3, 0x58, 0x06];
function deltaColor(delta, scale) {
  const t = Math.min(1, Math.abs(delta) / (scale > 0 ? scale : 1));
  const to = delta >= 0 ? GAIN : LOSS;
  const mix = to.map((c) => Math.round(255 + (c - 255) * t));
  return {background: `rgb(${mix[0]}, ${mix[1]}, ${mix[2]})`, dark: t > 0.55};
}

// ---- the API ----
class AuthError extends Error {}
async function apiFetch(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new AuthError('not logged in');
  return fetch('/api/' + path, {headers: {Authorization: 'Bearer ' + token},
                                cache: 'no-store'});
}
async function api(path) {
  const r = await apiFetch(path);
  let body = null;
  try { body = await r.json(); } catch (e) { body = {error: 'not JSON (HTTP ' + r.status + ')'}; }
  if (r.status === 401) throw new AuthError(body.error || 'token refused');
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${body.code || ''}: ${body.error || ''}`);
  return body;
}
// A route's body as text (the matrix as CSV); errors as api()'s.
async function apiText(path) {
  const r = await apiFetch(path);
  if (r.ok) return r.text();
  let body = {};
  try { body = await r.json(); } catch (e) {}
  if (r.status === 401) throw new AuthError(body.error || 'token refused');
  throw new Error(`${path}: HTTP ${r.status} ${body.code || ''}: ${body.error || ''}`);
}

// ---- routing and polling ----
let generation = 0;  // bumped on every navigation: a stale poll stops itself
function route() {
  const gen = ++generation;
  const hash = location.hash || '#/pool';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  for (const id of ['nav-pool', 'nav-sweeps']) {
    document.getElementById(id).classList.toggle('current', id === 'nav-' + parts[0]);
  }
  let render;
  if (parts[0] === 'sweeps') render = (v) => renderSweeps(v, params);
  else if (parts[0] === 'sweep' && parts[1]) render = (v) => renderSweep(v, parts[1]);
  else if (parts[0] === 'summary' && parts[1]) render = (v) => renderSummary(v, parts[1]);
  else render = renderPool;
  poll(gen, render, parts[0] !== 'summary');
}
async function poll(gen, render, repeat) {
  if (gen !== generation) return;
  const view = document.getElementById('view');
  try {
    const next = el('div');
    await render(next);
    if (gen !== generation) return;
    // Not while the user is choosing in a filter: the new page would close the list.
    const active = document.activeElement;
    if (!(view.contains(active) && active.tagName === 'SELECT')) view.replaceChildren(next);
    setStatus('updated ' + new Date().toLocaleTimeString() +
              (repeat ? ' (refreshes every ' + POLL_MS / 1000 + ' s)' : ''));
  } catch (e) {
    if (e instanceof AuthError) { showLogin(e.message); return; }
    setStatus(String(e.message || e), true);
  }
  if (repeat) setTimeout(() => poll(gen, render, repeat), POLL_MS);
}

// ---- login ----
function showLogin(message) {
  generation++;
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById('login').hidden = false;
  document.getElementById('view').replaceChildren();
  document.getElementById('who').textContent = '';
  document.getElementById('logout').hidden = true;
  document.getElementById('login-error').textContent =
      message && message !== 'not logged in' ? message : '';
  setStatus('');
}
async function start() {
  document.getElementById('login').hidden = true;
  try {
    const me = await api('whoami');
    document.getElementById('who').textContent =
        `${me.user} (${short(me.role, 'ROLE_')}, read-only here)`;
    document.getElementById('logout').hidden = false;
    route();
  } catch (e) {
    showLogin(e instanceof AuthError ? e.message : String(e.message || e));
  }
}
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
    document.getElementById('token').value = '';
    start();
  });
  document.getElementById('logout').addEventListener('click', () => showLogin(''));
  window.addEventListener('hashchange', () => {
    if (sessionStorage.getItem(TOKEN_KEY)) route();
  });
  if (sessionStorage.getItem(TOKEN_KEY)) start(); else showLogin('');
});

// ---- Pool ----
async function renderPool(v) {
  const [workers, pool] = await Promise.all([api('workers'), api('pool')]);
  v.append(el('h2', {text: 'Workers'}));
  const rows = workers.workers.map((w) => el('tr', {'data-worker': w.name, 'data-worker-id': w.id},
      el('td', {text: w.name}),
      el('td', {text: short(w.state, 'WORKER_STATE_')}),
      el('td', {text: w.devices.map((d) => `${d.kind}×${d.count}`).join(', ')}),
      el('td', {text: w.datasets.join(', ')}),
      el('td', {text: w.labels.join(', ')}),
      el('td', {class: 'num', text: w.running_jobs.length}),
      el('td', {text: w.running_jobs.join(', ') || '—', class: 'muted'}),
      el('td', {text: ago(w.last_heartbeat), title: w.last_heartbeat})));
  v.append(table(['worker', 'state', 'devices', 'datasets', 'labels', 'running',
                  'running jobs', 'last heartbeat'], rows, 'workers'));
  if (!workers.workers.length) v.append(el('p', {class: 'muted', text: 'No worker has registered.'}));

  v.append(el('h2', {text: 'Queue by owner'}));
  const owners = Object.entries(pool.queued_by_owner);
  v.append(owners.length
      ? table(['owner', 'queued jobs'], owners.map(([o, n]) =>
            el('tr', {}, el('td', {text: o}), el('td', {class: 'num', text: n}))), 'queue')
      : el('p', {class: 'muted', text: 'Nothing is queued.'}));

  v.append(el('h2', {text: 'Jobs finished per hour (last 24 h; failed in orange)'}));
  v.append(hourChart(pool.finished_per_hour, pool.failed_per_hour));
}
function hourChart(finished, failed) {
  const w = 24 * 26 + 40, h = 150, base = 120, max = Math.max(1, ...finished);
  const s = svg('svg', {width: w, height: h, role: 'img', class: 'hours',
                        'aria-label': 'jobs finished in each of the last 24 hours'});
  finished.forEach((n, i) => {
    const x = w - 30 - (i + 1) * 26;  // the newest hour on the right
    const bh = Math.round(100 * n / max), fh = Math.round(100 * failed[i] / max);
    s.append(svg('rect', {x, y: base - bh, width: 20, height: bh, fill: '#2166ac'}));
    if (fh) s.append(svg('rect', {x, y: base - fh, width: 20, height: fh, fill: '#b35806'}));
    if (n) s.append(svg('text', {x: x + 10, y: base - bh - 3, 'text-anchor': 'middle'}, n));
    if (i % 3 === 0) s.append(svg('text', {x: x + 10, y: base + 14, 'text-anchor': 'middle'},
                                         i === 0 ? 'now' : '-' + i + 'h'));
  });
  s.append(svg('line', {x1: 0, y1: base, x2: w, y2: base, stroke: '#555'}));
  return s;
}

// ---- Sweeps ----
function sweepProgress(s) {
  let total = 0, done = 0, failed = 0;
  for (const c of s.counts) {
    total += c.count;
    if (c.state === 'JOB_STATE_SUCCEEDED') done += c.count;
    if (c.state === 'JOB_STATE_FAILED' || c.state === 'JOB_STATE_CANCELLED') failed += c.count;
  }
  return {total, done, failed};
}
function progressBar(done, failed, total, label) {
  const bar = el('span', {class: 'bar', role: 'progressbar', 'aria-valuemin': 0,
                          'aria-valuemax': total, 'aria-valuenow': done, 'aria-label': label});
  const ok = el('span');
  ok.style.width = (total ? 100 * done / total : 0) + '%';
  bar.append(ok);
  const wrap = el('span', {}, bar, `${done}/${total}` + (failed ? ` (${failed} failed)` : ''));
  return wrap;
}
async function renderSweeps(v, params) {
  const list = await api('sweeps');
  const sweeps = list.sweeps;
  const owner = params.get('owner') || '', state = params.get('state') || '';
  const form = el('form', {class: 'filters', id: 'sweep-filters'});
  const ownerSel = el('select', {id: 'filter-owner'}, el('option', {value: '', text: 'any'}));
  for (const o of [...new Set(sweeps.map((s) => s.owner))].sort()) {
    ownerSel.append(el('option', {value: o, text: o}));
  }
  ownerSel.value = owner;
  const stateSel = el('select', {id: 'filter-state'}, el('option', {value: '', text: 'any'}));
  for (const st of ['active', 'succeeded', 'failed', 'cancelled']) {
    stateSel.append(el('option', {value: st, text: st}));
  }
  stateSel.value = state;
  const apply = () => {
    const q = new URLSearchParams();
    if (ownerSel.value) q.set('owner', ownerSel.value);
    if (stateSel.value) q.set('state', stateSel.value);
    location.hash = '#/sweeps' + (q.toString() ? '?' + q : '');
  };
  ownerSel.addEventListener('change', apply);
  stateSel.addEventListener('change', apply);
  form.append(el('label', {}, 'owner ', ownerSel), el('label', {}, 'state ', stateSel));
  v.append(el('h2', {text: 'Sweeps'}), form);
  const shown = sweeps.filter((s) => (!owner || s.owner === owner) &&
                                     (!state || short(s.state, 'SWEEP_STATE_') === state));
  const rows = shown.map((s) => {
    const p = sweepProgress(s);
    return el('tr', {'data-sweep': s.id},
        el('td', {}, el('a', {href: '#/sweep/' + encodeURIComponent(s.id), text: s.name})),
        el('td', {text: s.owner}),
        el('td', {text: short(s.state, 'SWEEP_STATE_')}),
        el('td', {}, progressBar(p.done, p.failed, p.total, 'jobs succeeded')),
        el('td', {text: new Date(s.created_at).toLocaleString(), title: s.created_at}),
        el('td', {}, el('a', {href: '#/summary/' + encodeURIComponent(s.id), text: 'summary'})));
  });
  v.append(table(['sweep', 'owner', 'state', 'progress', 'submitted', ''], rows, 'sweeps'));
  if (!shown.length) v.append(el('p', {class: 'muted', text: 'No sweep matches.'}));
  if (list.next_page_token) v.append(el('p', {class: 'muted', text: 'Only the newest sweeps are listed.'}));
}

// ---- one sweep ----
function rowDone(row) { return row.job_state === 'JOB_STATE_SUCCEEDED'; }
function maxDelta(matrices) {
  let m = 0;
  for (const mx of matrices) {
    for (const r of mx.rows) {
      r.cells.forEach((c, j) => {
        const b = mx.baseline.cells[j];
        if (c.present && b && b.present) m = Math.max(m, Math.abs(100 * (c.accuracy - b.accuracy)));
      });
    }
  }
  return Math.max(1, m);
}
function heatmap(mx, scale) {
  const cols = mx.eval_datasets;
  const headers = ['fine-tuned on'].concat(cols.map((c) => {
    const th = el('th', {class: 'num', text: c});
    if (c === mx.pretrain_dataset) th.title = 'the pre-training set (not part of RI)';
    return th;
  }), [el('th', {class: 'num', text: 'RI'}), el('th', {class: 'num', text: 'pre-train Δ'})]);
  const cellAttrs = (row, j, c) => ({class: 'cell', 'data-model': mx.model, 'data-method': mx.method,
                                     'data-row': row, 'data-col': cols[j],
                                     'data-accuracy': c.present ? c.accuracy : null});
  const rows = [];
  const base = el('tr', {class: 'baseline'}, el('th', {text: 'pre-trained'}));
  mx.baseline.cells.forEach((c, j) => {
    base.append(c.present ? el('td', cellAttrs('pre', j, c), pct(c.accuracy))
                          : el('td', {class: 'cell empty', text: '·'}));
  });
  base.append(el('td'), el('td'));
  rows.push(base);
  for (const r of mx.rows) {
    const state = short(r.job_state, 'JOB_STATE_');
    const tr = el('tr', {}, el('th', {}, r.finetune_dataset,
        rowDone(r) ? null : el('span', {class: 'muted', text: ` [${state || 'no job'}]`})));
    r.cells.forEach((c, j) => {
      const b = mx.baseline.cells[j];
      if (!c.present) { tr.append(el('td', {class: 'cell empty', text: '·'})); return; }
      const td = el('td', cellAttrs(r.finetune_dataset, j, c), pct(c.accuracy));
      if (b && b.present) {
        const d = 100 * (c.accuracy - b.accuracy);
        const col = deltaColor(d, scale);
        td.style.backgroundColor = col.background;
        if (col.dark) td.style.color = '#fff';
        td.append(el('span', {class: 'delta', text: signed(d, 1)}));
      }
      tr.append(td);
    });
    tr.append(el('td', {class: 'num', text: r.has_ri ? signed(100 * r.ri, 2) : '—'}),
              el('td', {class: 'num', text: r.has_pretrain_change ? signed(100 * r.pretrain_change, 1) : '—'}));
    rows.push(tr);
  }
  const t = table(headers, rows, 'heatmap');
  t.setAttribute('data-model', mx.model);
  t.setAttribute('data-method', mx.method);
  const caption = el('caption', {},
      `${mx.model} / ${mx.method}: accuracy %, change vs pre-trained in points. `,
      el('strong', {class: 'mri', text: 'mRI ' + (mx.has_mri ? signed(100 * mx.mri, 2) : '— (incomplete)')}),
      mx.has_mean_ood ? `  mean OOD accuracy ${pct(mx.mean_ood)}%` : '');
  t.prepend(caption);
  return t;
}
function legend(scale) {
  const l = el('div', {class: 'legend', 'aria-hidden': 'true'}, 'change: ');
  for (const f of [-1, -0.5, 0, 0.5, 1]) {
    const d = f * scale, c = deltaColor(d, scale);
    const s = el('span', {class: 'swatch', text: signed(d, 0)});
    s.style.backgroundColor = c.background;
    if (c.dark) s.style.color = '#fff';
    l.append(s);
  }
  l.append(' points (orange: loss, blue: gain)');
  return l;
}
function download(name, type, text) {
  const a = el('a', {href: URL.createObjectURL(new Blob([text], {type})), download: name});
  document.body.append(a);
  a.click();
  a.remove();
}
async function renderSweep(v, id) {
  const [s, m, failed] = await Promise.all([
    api('sweeps/' + encodeURIComponent(id)),
    api('sweeps/' + encodeURIComponent(id) + '/matrix'),
    api('sweeps/' + encodeURIComponent(id) + '/jobs?state=FAILED')]);
  const p = sweepProgress(s);
  v.append(el('h2', {}, `Sweep ${s.name} `, el('span', {class: 'muted', text: s.id})),
           el('p', {}, `owner ${s.owner} · ${short(s.state, 'SWEEP_STATE_')} · submitted ` +
                        new Date(s.created_at).toLocaleString() + ' · ',
              progressBar(p.done, p.failed, p.total, 'jobs succeeded'), ' · ',
              el('a', {href: '#/summary/' + encodeURIComponent(id), text: 'summary'})));
  const dl = el('p', {}, 'Download the matrices: ');
  const json = el('button', {type: 'button', id: 'download-json', text: 'JSON'});
  json.addEventListener('click', () => download(`matrix-${s.name}.json`, 'application/json',
                                                JSON.stringify(m, null, 2)));
  const csv = el('button', {type: 'button', id: 'download-csv', text: 'CSV'});
  // The coordinator writes it with the CLI's own `rib matrix -o csv` code, every column.
  csv.addEventListener('click', async () => {
    try {
      download(`matrix-${s.name}.csv`, 'text/csv',
               await apiText('sweeps/' + encodeURIComponent(id) + '/matrix?format=csv'));
    } catch (e) { alert('CSV download failed: ' + e.message); }
  });
  dl.append(json, ' ', csv);
  v.append(dl);

  v.append(el('h3', {text: 'Progress per model and method (the pre-trained row and each fine-tune row)'}));
  v.append(table(['model', 'method', 'rows done'], m.matrices.map((mx) => {
    const all = [mx.baseline].concat(mx.rows);
    const done = all.filter(rowDone).length;
    const bad = all.filter((r) => r.job_state === 'JOB_STATE_FAILED').length;
    return el('tr', {}, el('td', {text: mx.model}), el('td', {text: mx.method}),
              el('td', {}, progressBar(done, bad, all.length, `${mx.model}/${mx.method}`)));
  }), 'progress'));

  if (failed.jobs.length) {
    v.append(el('h3', {text: `Failed jobs (${failed.total})`}));
    v.append(table(['job', 'attempt', 'error'], failed.jobs.map((j) => el('tr', {},
        el('td', {text: [j.spec.model.name, j.spec.method.name, j.spec.finetune_dataset]
                            .filter(Boolean).join('/')}),
        el('td', {class: 'num', text: `${j.attempt}/${j.max_attempts}`}),
        el('td', {class: 'error', text: j.error}))), 'failed'));
  }
  const scale = maxDelta(m.matrices);
  v.append(el('h3', {text: 'Matrices'}), legend(scale));
  for (const mx of m.matrices) v.append(el('div', {class: 'panel'}, heatmap(mx, scale)));
}

// ---- Summary: the paper's headline table and figure ----
async function renderSummary(v, id) {
  const [s, m] = await Promise.all([api('sweeps/' + encodeURIComponent(id)),
                                    api('sweeps/' + encodeURIComponent(id) + '/matrix')]);
  v.append(el('h2', {}, `Summary of ${s.name} `,
                  el('a', {href: '#/sweep/' + encodeURIComponent(id), text: '(matrices)'})));
  const methods = [...new Set(m.matrices.map((x) => x.method))];
  const models = [...new Set(m.matrices.map((x) => x.model))];
  const find = (model, method) => m.matrices.find((x) => x.model === model && x.method === method);
  v.append(el('h3', {text: 'mRI (points) per model and method'}));
  v.append(table(['model'].concat(methods), models.map((model) => el('tr', {},
      el('th', {text: model}), ...methods.map((method) => {
        const x = find(model, method);
        return el('td', {class: 'num', 'data-model': model, 'data-method': method,
                         text: x && x.has_mri ? signed(100 * x.mri, 2) : '—'});
      }))), 'mri'));
  v.append(el('h3', {text: 'Mean OOD accuracy (%) before and after fine-tuning'}));
  v.append(el('p', {class: 'muted', text: 'Before: the pre-trained model (mean OOD after − mRI); ' +
                                           'after: the mean over fine-tune rows. Complete matrices only.'}));
  v.append(oodChart(models, methods, find));
}
function oodChart(models, methods, find) {
  const bw = 26, gap = 30, top = 20, base = 200, h = 260;
  const bars = models.map((model) => {
    const xs = methods.map((method) => find(model, method)).filter((x) => x && x.has_mri && x.has_mean_ood);
    const before = xs.length ? 100 * (xs[0].mean_ood - xs[0].mri) : null;
    return {model, list: [{label: 'pre-trained', value: before}].concat(
        methods.map((method) => {
          const x = find(model, method);
          return {label: method, value: x && x.has_mean_ood ? 100 * x.mean_ood : null};
        }))};
  });
  const w = 40 + bars.reduce((a, b) => a + b.list.length * bw + gap, 0);
  const s = svg('svg', {width: w, height: h, role: 'img', class: 'ood',
                        'aria-label': 'mean OOD accuracy before and after fine-tuning per model'});
  let x = 40;
  for (const g of bars) {
    g.list.forEach((b, i) => {
      if (b.value !== null) {
        const bh = Math.round((base - top) * b.value / 100);
        s.append(svg('rect', {x, y: base - bh, width: bw - 4, height: bh,
                              fill: i === 0 ? '#777' : '#2166ac', 'data-model': g.model,
                              'data-label': b.label, 'data-value': b.value.toFixed(2)}));
        s.append(svg('text', {x: x + (bw - 4) / 2, y: base - bh - 3, 'text-anchor': 'middle'},
                     b.value.toFixed(1)));
      }
      s.append(svg('text', {x: x + 8, y: base + 8, transform: `rotate(45 ${x + 8} ${base + 8})`}, b.label));
      x += bw;
    });
    s.append(svg('text', {x: x - (g.list.length * bw) / 2, y: h - 4, 'text-anchor': 'middle',
                          'font-weight': 'bold'}, g.model));
    x += gap;
  }
  s.append(svg('line', {x1: 30, y1: base, x2: w, y2: base, stroke: '#555'}));
  for (const t of [0, 50, 100]) {
    s.append(svg('text', {x: 2, y: base - (base - top) * t / 100 + 4}, t + '%'));
  }
  return s;
}
