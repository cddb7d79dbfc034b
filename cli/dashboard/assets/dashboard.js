// profile-sync dashboard: fills each panel from the server's JSON (same origin; the session
// cookie goes along), draws the charts with uPlot, and runs the actions with a confirmation,
// polling their progress. Data only ever lands in the page as text, never as HTML.
'use strict';
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-')) node.setAttribute(k, v);
      else node[k] = v;
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  };

  async function api(path, options = {}) {
    const res = await fetch(path, { credentials: 'same-origin', ...options });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.error?.message ?? `HTTP ${res.status}`), { status: res.status, body });
    return body;
  }

  // A number as its exact digits (so the page's text is the number status --json has), grouped
  // by thousands with spacing only.
  function digits(value) {
    const text = String(value);
    const m = /^(-?)(\d+)(\.\d+)?$/.exec(text);
    if (!m) return [document.createTextNode(text)];
    const [, sign, int, frac = ''] = m;
    const head = int.length % 3 || 3;
    const parts = [el('span', {}, sign + int.slice(0, head))];
    for (let i = head; i < int.length; i += 3) parts.push(el('span', { class: 'g' }, int.slice(i, i + 3)));
    if (frac) parts.push(document.createTextNode(frac));
    return parts;
  }
  function setNumber(dd, value) {
    dd.setAttribute('data-value', value === null || value === undefined ? '' : String(value));
    if (value === null || value === undefined) return dd.replaceChildren('–');
    dd.replaceChildren(...digits(value), dd.dataset.unit ? ` ${dd.dataset.unit}` : '');
  }
  const num = (v) => el('td', { class: 'n' }, ...digits(v));
  const when = (iso) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '–');
  // a user id, shortened on screen (the whole id is its title and its data); click: that user's row
  const uid = (id) => el('button', { type: 'button', class: 'uid', 'data-user-id': id, title: `${id}: show this user's row` },
    `${id.slice(0, 8)}…`);

  async function panel(id, load) {
    const section = document.getElementById(id);
    try {
      await load(section);
      section.dataset.state = 'ready';
      section.removeAttribute('title');
    } catch (err) {
      section.dataset.state = 'error';
      section.title = err.message;
    }
  }

  const charts = {};
  function chart(name, target, series, data) {
    charts[name]?.destroy();
    const width = Math.max(target.clientWidth, 300);
    charts[name] = new uPlot({
      width,
      height: 220,
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5, points: { show: data[0].length < 200 } }))],
      axes: [{}, { size: 60 }],
      scales: { x: { time: true } },
    }, data, target);
  }

  const state = { replay: false, runsBefore: null, measureAfter: 0 };

  // The state now: the numbers of `status --json` and when they were measured (`again`: a fresh
  // measurement is running, these are the last one's).
  function showNow(status, again) {
    for (const dd of document.querySelectorAll('#now dd[data-key]')) setNumber(dd, status[dd.dataset.key]);
    const run = status.last_run;
    $('#last-run').replaceChildren(run
      ? el('span', {}, `#${run.id} `, el('span', { class: `s-${run.status}` }, run.status), ` at ${when(run.finished_at ?? run.started_at)}`)
      : 'never');
    const at = `${status.computed_at.slice(11, 19)} UTC`;
    $('#measured').textContent = again
      ? `as measured at ${at}; measuring again…`
      : `measured at ${at} in ${status.took_ms} ms`;
  }

  function showSetup({ mapping, actions }) {
    $('#target').textContent = mapping ? mapping.table : 'no mapping applied';
    state.replay = actions.replay;
    $('[data-action="replay"]').hidden = !actions.replay;
    showMapping(mapping);
  }

  function showMapping(mapping) {
    const section = $('#mapping');
    if (!mapping) {
      $('#mapping-summary').textContent = 'No mapping is applied: run `npx profile-sync init`, then `supabase db push`.';
      $('tbody', section).replaceChildren();
      return;
    }
    const soft = mapping.soft_delete ? Object.entries(mapping.soft_delete).map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
    $('#mapping-summary').textContent = `${mapping.table} keyed by ${mapping.key}; soft delete: ${soft}; ` +
      `user-editable: ${mapping.user_editable.join(', ') || 'nothing'}; roles: default ${mapping.roles.default}, ` +
      `self-assignable ${mapping.roles.self_assignable.join(', ') || 'none'}; history kept ${mapping.history_days} days`;
    $('tbody', section).replaceChildren(...mapping.columns.map((c) =>
      el('tr', { 'data-column': c.column }, el('td', {}, el('code', {}, c.column)), el('td', {}, c.from), el('td', {}, c.owner))));
  }

  // The mapping and the last measurement at once; then, once the other panels are filled
  // (`after`), the state now, measured for this load (a pass over every auth user: a second or
  // more at a million users), and the panel is ready. The 30-second refresh measures again only
  // once 20 times the last measurement's duration has passed, so an open page holds at most about
  // 5 % of the database's time.
  const loadState = (measure, after) => panel('now', async (section) => {
    if (measure) section.dataset.state = 'measuring';
    const setup = await api('/api/state');
    showSetup(setup);
    $('#mapping').dataset.state = 'ready';
    showNow(setup.status, measure);
    if (measure) {
      await after;
      const { status } = await api('/api/status');
      showNow(status, false);
      state.measureAfter = Date.parse(status.computed_at) + 20 * status.took_ms;
    }
    $('#refreshed').textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
  });

  // doctor's drift check is the now panel's measurement: asked for alongside it
  const loadDoctor = (after) => panel('doctor', async () => {
    await after;
    const report = await api('/api/doctor');
    $('#doctor-checks').replaceChildren(...report.checks.map((c) => el('li', { 'data-check': c.check, 'data-status': c.status },
      el('span', { class: `status ${c.status}` }, c.status), ' ', el('strong', {}, c.check), ' ', c.message,
      c.fix && c.status !== 'ok' ? el('div', { class: 'fix' }, `→ ${c.fix}`) : null)));
  });

  const loadHistory = () => panel('drift', async (section) => {
    const { runs } = await api('/api/history');
    section.dataset.runs = String(runs.t.length);
    $('.empty', section).hidden = runs.t.length > 0;
    chart('drift', $('#drift-chart'), [
      ['missing', '#cf222e'], ['stale', '#9a6700'], ['orphaned', '#8250df'],
      ['created', '#1a7f37'], ['updated', '#0969da'], ['deleted', '#57606a'], ['failed', '#ff8182'],
    ], [runs.t, runs.missing, runs.stale, runs.orphaned, runs.created, runs.updated, runs.deleted, runs.failed]);
    chart('duration', $('#duration-chart'), [['duration ms', '#0969da']], [runs.t, runs.duration_ms]);
  });

  const loadDeliveries = () => panel('deliveries', async (section) => {
    const d = await api('/api/deliveries');
    section.dataset.installed = String(d.installed);
    $('.absent', section).hidden = d.installed;
    $('.stats', section).hidden = !d.installed;
    $('#deliveries-chart').hidden = !d.installed;
    $('h3', section).hidden = !d.installed;
    if (!d.installed) return;
    for (const dd of section.querySelectorAll('dd[data-key]')) setNumber(dd, d.counts?.[dd.dataset.key] ?? null);
    const x = d.hours.map((h) => Date.parse(h.hour) / 1000);
    chart('deliveries', $('#deliveries-chart'), [['delivered', '#1a7f37'], ['retried', '#9a6700'], ['dead', '#cf222e']],
      [x, d.hours.map((h) => h.delivered), d.hours.map((h) => h.retried), d.hours.map((h) => h.dead)]);
  });

  const loadFailures = () => panel('failures', async (section) => {
    const { groups } = await api('/api/failures');
    $('.empty', section).hidden = groups.length > 0;
    $('tbody', section).replaceChildren(...groups.map((g) => el('tr', { 'data-constraint': g.constraint_name ?? '' },
      el('td', {}, el('code', {}, g.constraint_name ?? '(none)')), el('td', {}, g.error_code), num(g.users),
      el('td', {}, when(g.since)), el('td', {}, when(g.last_seen)), el('td', {}, ...g.user_ids.map(uid)))));
  });

  const runRow = (r) => el('tr', { 'data-run': String(r.id) },
    num(r.id), el('td', {}, when(r.started_at)), el('td', { class: `s-${r.status}`, title: r.error ?? '' }, r.status),
    num(r.duration_ms), num(r.missing), num(r.stale), num(r.orphaned), num(r.created), num(r.updated), num(r.deleted), num(r.failed));

  const loadRuns = (more = false) => panel('runs', async (section) => {
    const before = more ? state.runsBefore : null;
    const { runs } = await api(`/api/runs${before ? `?before=${before}` : ''}`);
    const rows = runs.map(runRow);
    if (more) $('tbody', section).append(...rows);
    else $('tbody', section).replaceChildren(...rows);
    if (runs.length > 0) state.runsBefore = runs[runs.length - 1].id;
    $('#runs-more').hidden = runs.length < 50;
  });

  // the quick panels first; the state now is measured once they are filled
  const refresh = (measure = true) => {
    const quick = Promise.all([loadHistory(), loadDeliveries(), loadFailures(), loadRuns()]);
    return { quick, all: Promise.all([loadState(measure, quick), quick]) };
  };

  // ---- actions ----
  const ACTIONS = {
    'dry-run': ['Dry run', 'Counts the drift and shows what a reconcile would change, column by column. Writes nothing.'],
    reconcile: ['Reconcile now', 'Repairs all drift now (creates, updates and deletes profiles), as `profile-sync reconcile` does.'],
    replay: ['Replay dead letters', 'Queues every dead letter again, as `profile-sync replay --dead` does.'],
  };

  function confirmAction(kind) {
    const dialog = $('#confirm');
    $('#confirm-title').textContent = `${ACTIONS[kind][0]}?`;
    $('#confirm-text').textContent = ACTIONS[kind][1];
    return new Promise((resolve) => {
      const done = (yes) => {
        dialog.close();
        $('#confirm-yes').onclick = $('#confirm-no').onclick = null;
        resolve(yes);
      };
      $('#confirm-yes').onclick = () => done(true);
      $('#confirm-no').onclick = () => done(false);
      dialog.oncancel = () => done(false);
      dialog.showModal();
    });
  }

  function setBusy(busy) {
    for (const b of document.querySelectorAll('[data-action]')) b.disabled = busy;
  }

  async function runAction(kind) {
    if (!(await confirmAction(kind))) return;
    const section = $('#action');
    section.hidden = false;
    section.dataset.state = 'running';
    section.dataset.kind = kind;
    $('#action-title').textContent = ACTIONS[kind][0];
    $('#action-result').replaceChildren();
    const progress = $('#action-progress');
    progress.removeAttribute('value');
    setBusy(true);
    try {
      let job = await api(`/api/actions/${kind}`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
      const started = Date.now();
      while (job.state === 'running') {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        $('#action-status').textContent = job.progress
          ? `running: ${job.progress.scanned} of ${job.progress.total} users walked (${seconds} s)`
          : `running (${seconds} s)`;
        if (job.progress) progress.value = job.progress.fraction;
        await new Promise((r) => setTimeout(r, 300));
        job = await api(`/api/actions/${job.id}`);
      }
      progress.value = 1;
      if (job.state === 'failed') throw new Error(job.error.message);
      $('#action-status').textContent = `done in ${job.result.duration_ms} ms`;
      $('#action-result').replaceChildren(kind === 'dry-run' ? dryRunReport(job.result) : resultTable(job.result));
      section.dataset.state = 'done';
    } catch (err) {
      $('#action-status').textContent = `failed: ${err.message}`;
      section.dataset.state = 'failed';
    } finally {
      setBusy(false);
      void refresh();
    }
  }

  const pairs = (rows) => el('table', {}, el('tbody', {}, ...rows.map(([k, v]) =>
    el('tr', { 'data-key': k }, el('th', {}, k), typeof v === 'number' ? num(v) : el('td', {}, v)))));

  function resultTable(r) {
    if (r.run_id === undefined) return el('pre', {}, JSON.stringify(r, null, 2));
    return pairs([['run', `#${r.run_id} ${r.complete ? 'complete' : 'incomplete'}`], ['missing', r.missing], ['stale', r.stale],
      ['orphaned', r.orphaned], ['created', r.created], ['updated', r.updated], ['deleted', r.deleted], ['failed', r.failed]]);
  }

  // The preservation report with user ids only: values are shown when one row is asked for.
  function dryRunReport(r) {
    const wrap = el('div', { id: 'dry-run-report' });
    wrap.append(el('p', {}, 'Nothing was written.'), pairs([['missing', r.missing], ['stale', r.stale], ['orphaned', r.orphaned],
      ['app edits kept', r.kept ?? 0]]));
    for (const [k, ids] of Object.entries(r.samples ?? {})) {
      if (ids.length) wrap.append(el('p', { 'data-samples': k }, `${k}, e.g. `, ...ids.slice(0, 5).map(uid)));
    }
    const changes = Object.entries(r.changes ?? {}).sort(([a], [b]) => a.localeCompare(b));
    wrap.append(el('h3', {}, changes.length ? 'Existing rows, per column' : 'Existing rows: nothing would change'));
    if (changes.length) {
      wrap.append(el('table', { class: 'changes' },
        el('thead', {}, el('tr', {}, el('th', {}, 'column'), el('th', { class: 'n' }, 'rows would change'),
          el('th', { class: 'n' }, 'app edits kept'), el('th', {}, 'e.g. users'))),
        el('tbody', {}, ...changes.map(([column, c]) => el('tr', { 'data-column': column },
          el('td', {}, el('code', {}, column)), num(c.rows), num(c.kept), el('td', {}, ...c.samples.slice(0, 3).map((s) => uid(s.user_id))))))));
    }
    return wrap;
  }

  async function showRow(id) {
    const dialog = $('#row');
    $('#row-id').textContent = id;
    $('#row-body').textContent = 'loading…';
    dialog.showModal();
    try {
      const row = await api(`/api/users/${id}`);
      $('#row-body').textContent = JSON.stringify({ profile: row.profile, failure: row.failure }, null, 2);
    } catch (err) {
      $('#row-body').textContent = err.message;
    }
  }

  document.addEventListener('click', (e) => {
    const action = e.target.closest('[data-action]');
    if (action) return void runAction(action.dataset.action);
    const user = e.target.closest('[data-user-id]');
    if (user) return void showRow(user.dataset.userId);
  });
  $('#row-close').onclick = () => $('#row').close();
  $('#runs-more').onclick = () => void loadRuns(true);

  void loadDoctor(refresh().quick);
  setInterval(() => {
    if (!document.hidden && $('#action').dataset.state !== 'running') void refresh(Date.now() >= state.measureAfter);
  }, 30_000);
})();
