// The Tongban web console: one page, drawn from the JSON API
// (console/json_api.h). Every text a clerk reads comes from the message
// catalogs (i18n/zh-CN.json first, i18n/en.json as the switch); every value
// from the node is put into the page as text (textContent), never as markup.
// Personal data travels in POST bodies only.
'use strict';

const state = {
  lang: localStorage.getItem('tb_lang') || 'zh-CN',
  msgs: {},
  session: null,
  page: null,
  charts: [],
};

// --- Messages -----------------------------------------------------------

async function loadMessages() {
  const res = await fetch('/assets/i18n/' + state.lang + '.json');
  state.msgs = await res.json();
  document.documentElement.lang = state.lang;
}

// The message `key` with {name} placeholders filled from `params`.
function t(key, params) {
  let text = state.msgs[key];
  if (text === undefined) text = key;
  if (params) {
    for (const [k, v] of Object.entries(params)) text = text.split('{' + k + '}').join(String(v));
  }
  return text;
}

// An enum value in words ("RECORD_KIND_OUTFLOW" -> 流出登记).
function word(value) {
  if (value === undefined || value === null || value === '') return '';
  const key = 'enum.' + value;
  return state.msgs[key] !== undefined ? state.msgs[key] : String(value);
}

// A state the node names in English ("answered late") in words.
function stateWord(s) {
  const key = 'state.' + String(s).replace(/ /g, '_');
  return state.msgs[key] !== undefined ? state.msgs[key] : s;
}

// Known node messages and the catalog entry that says them for a person.
const ERROR_PATTERNS = [
  [/^authentication failed for operator (\S+): locked after (\d+) failures until (\S+)/, 'error.locked', ['name', 'n', 'until']],
  [/^authentication failed for operator (\S+)/, 'error.auth_failed', ['name']],
  [/^authentication failed/, 'error.auth_failed_anon', []],
  [/^session expired after (.+) idle/, 'error.session_idle', ['idle']],
  [/^session ended (.+) after sign-in/, 'error.session_lifetime', ['lifetime']],
  [/^not signed in/, 'error.not_signed_in', []],
  [/^this session was opened with another client certificate/, 'error.other_certificate', []],
  [/CSRF token/, 'error.csrf', []],
  [/^an operator certificate .* is required/, 'error.no_certificate', []],
  [/does not come from the console's own page/, 'error.origin', []],
  [/^operator (\S+) \((\w+)\) may not (.+)/, 'error.permission', ['name', 'role', 'what']],
  [/citizen ID findings need the operator's confirmation: (.+)$/, 'error.id_findings', ['findings']],
  [/^flagged: service/, 'error.duplicate_service', []],
  [/holds no records of person (\S+)/, 'error.no_records', ['person']],
  [/^reason: /, 'error.reason_required', []],
  [/^person: /, 'error.person_id', []],
  [/^([a-z_]+(?:\.[a-z_]+)+): (\S+) is not a calendar date/, 'error.not_calendar_date', ['field', 'value']],
  [/^([a-z_]+(?:\.[a-z_]+)+): (\S+) is not a valid date/, 'error.not_valid_date', ['field', 'value']],
  [/^([a-z_]+(?:\.[a-z_]+)+): (\S+) is in the future/, 'error.in_future', ['field', 'value']],
  [/^([a-z_]+(?:\.[a-z_]+)+): missing/, 'error.missing', ['field']],
  [/^([a-z_]+(?:\.[a-z_]+)+): /, 'error.field', ['field']],
  [/appends are blocked/, 'error.appends_blocked', []],
  [/^the audit log cannot be written/, 'error.audit_unavailable', []],
];

// {text, original, field}: what to show for a node's error message.
function explain(message) {
  for (const [re, key, names] of ERROR_PATTERNS) {
    const m = re.exec(message);
    if (!m) continue;
    const params = {};
    names.forEach((n, i) => { params[n] = m[i + 1]; });
    if (params.findings) params.findings = params.findings.split(', ').map((f) => word('ID_FINDING_' + f.toUpperCase().replace(/ /g, '_'))).join('、');
    const field = /^([a-z_]+(?:\.[a-z_]+)+): /.exec(message);
    return { text: t(key, params), original: message, field: field ? field[1] : (message.startsWith('reason:') ? 'reason' : message.startsWith('person:') ? 'person' : null) };
  }
  return { text: t('error.node_said'), original: message, field: null };
}

// --- DOM helpers ----------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else if (k === 'onsubmit') e.addEventListener('submit', v);
    else if (k === 'onchange') e.addEventListener('change', v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

function main() { return document.getElementById('main'); }

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function table(headers, rows, opts) {
  const o = opts || {};
  const head = el('tr', {}, headers.map((h, i) => {
    const th = el('th', { text: h });
    if (o.sortKeys && o.sortKeys[i]) {
      th.className = 'sortable';
      th.dataset.sort = o.sortKeys[i];
      th.addEventListener('click', () => o.onSort(o.sortKeys[i]));
    }
    return th;
  }));
  const body = rows.length ? rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c)))) :
    [el('tr', {}, el('td', { colspan: headers.length, class: 'text-muted', text: t('common.none') }))];
  return el('div', { class: 'table-responsive' },
    el('table', { class: 'table table-sm table-striped align-middle', id: o.id }, el('thead', {}, head), el('tbody', {}, body)));
}

function alertBox(kind, text, original, id) {
  return el('div', { class: 'alert alert-' + kind, role: 'alert', id: id },
    text, original ? el('span', { class: 'orig', text: original }) : null);
}

function fmtDate(d) {
  if (!d || !d.year) return '–';
  return String(d.year).padStart(4, '0') + '-' + String(d.month).padStart(2, '0') + '-' + String(d.day).padStart(2, '0');
}

function fmtTime(micros) {
  const n = Number(micros || 0);
  if (!n) return '–';
  const d = new Date(n / 1000 + 8 * 3600 * 1000);  // China Standard Time
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

function mask(id) {
  return id && id.length === 18 ? id.slice(0, 6) + '********' + id.slice(14) : id;
}

function download(name, text, type) {
  const blob = new Blob([text], { type: type || 'text/csv;charset=utf-8' });
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function csvCell(v) {
  const s = String(v === undefined || v === null ? '' : v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// --- The API ------------------------------------------------------------

async function post(path, body, headers) {
  const h = Object.assign({ 'Content-Type': 'application/json' }, headers || {});
  if (state.session) h['X-CSRF-Token'] = state.session.csrf;
  const res = await fetch(path, { method: 'POST', headers: h, body: body, credentials: 'same-origin' });
  const type = res.headers.get('Content-Type') || '';
  const data = type.startsWith('application/json') ? await res.json() : await res.text();
  if (res.status === 401 && state.session && path !== '/api/login') {
    // The session ended (idle, lifetime, another certificate): sign in again.
    state.session = null;
    showLogin(data && data.message);
    throw new Error('signed out');
  }
  return { ok: res.ok, status: res.status, data: data, filename: filenameOf(res) };
}

function filenameOf(res) {
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  return m ? m[1] : null;
}

async function call(method, body) {
  return post('/api/call/' + method, JSON.stringify(body || {}));
}

// Shows an error reply in `where` (and beside a form's field if it names one).
function showError(where, reply, form) {
  const message = reply.data && reply.data.message ? reply.data.message : String(reply.data);
  const e = explain(message);
  if (form && e.field) {
    const slot = form.querySelector('[data-error-for="' + e.field + '"]');
    if (slot) {
      slot.textContent = e.text;
      slot.appendChild(el('span', { class: 'orig', text: message }));
      const input = form.querySelector('[name="' + e.field + '"]');
      if (input) input.classList.add('is-invalid');
    }
  }
  where.appendChild(alertBox('danger', e.text, message, 'error'));
  return e;
}

// --- Sign-in ------------------------------------------------------------

function showLogin(message) {
  document.getElementById('menu').replaceChildren();
  document.getElementById('who').textContent = '';
  document.getElementById('logout').classList.add('d-none');
  const m = main();
  clear(m);
  const out = el('div', { id: 'login-result' });
  if (message) {
    const e = explain(message);
    out.appendChild(alertBox('warning', e.text, message, 'login-message'));
  }
  const form = el('form', { id: 'login-form', class: 'card card-body', style: null },
    el('h1', { class: 'h4', text: t('login.title') }),
    el('p', { class: 'text-muted', text: t('login.explain') }),
    el('label', { class: 'form-label', for: 'password', text: t('login.password') }),
    el('input', { class: 'form-control mb-2', type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true }),
    el('label', { class: 'form-label', for: 'totp', text: t('login.totp') }),
    el('input', { class: 'form-control mb-3', id: 'totp', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '8' }),
    el('button', { class: 'btn btn-primary', type: 'submit', id: 'login-submit', text: t('login.submit') }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(out);
    const r = await post('/api/login', JSON.stringify({ password: form.password.value, totp: form.totp.value }));
    if (!r.ok) { showError(out, r); return; }
    state.session = r.data;
    startApp();
  });
  m.appendChild(el('div', { class: 'row justify-content-center' }, el('div', { class: 'col-md-5' }, form, out)));
}

async function logout() {
  try { await post('/api/logout', '{}'); } catch (e) { /* already out */ }
  state.session = null;
  showLogin();
}

// --- Menu and pages -------------------------------------------------------

const PAGES = {
  due: () => pageDue(),
  search: () => pageSearch(),
  write: () => pageWrite(),
  import: () => pageImport(),
  status: () => pageStatus(),
  peers: () => pagePeers(),
  charts: () => pageCharts(),
  fleet: () => pageFleet(),
  audit: () => pageAudit(),
  report: () => pageReport(),
  stats: () => pageStats(),
};

function startApp() {
  const s = state.session;
  document.getElementById('who').textContent =
    t('nav.who', { name: s.operator, role: word('OPERATOR_ROLE_' + s.role.toUpperCase()), node: s.node });
  document.getElementById('logout').classList.remove('d-none');
  const menu = document.getElementById('menu');
  menu.replaceChildren(...s.pages.map((p) => el('li', { class: 'nav-item' },
    el('a', { class: 'nav-link', href: '#', id: 'nav-' + p, 'data-page': p, text: t('page.' + p),
      onclick: (ev) => { ev.preventDefault(); go(p); } }))));
  go(s.pages[0]);
}

function go(page, arg) {
  state.page = page;
  for (const c of state.charts) c.destroy();
  state.charts = [];
  for (const a of document.querySelectorAll('#menu .nav-link')) a.classList.toggle('active', a.dataset.page === page);
  clear(main());
  main().appendChild(el('h1', { class: 'h4 mb-3', id: 'page-title', text: t('page.' + page) }));
  (page === 'person' ? pagePerson(arg) : page === 'form' ? pageForm(arg) : PAGES[page](arg)).catch((e) => {
    if (e.message !== 'signed out') main().appendChild(alertBox('danger', String(e)));
  });
}

// --- Clerk: what is due ----------------------------------------------------

async function pageDue() {
  const m = main();
  const [dueQ, overQ, allQ, dueN, overN, allN] = await Promise.all([
    call('ListInquiries', { due: true }), call('ListInquiries', { overdue: true }), call('ListInquiries', {}),
    call('ListNotices', { due: true }), call('ListNotices', { overdue: true }), call('ListNotices', {})]);
  for (const r of [dueQ, overQ, allQ, dueN, overN, allN]) if (!r.ok) { showError(m, r); return; }
  const county = state.session.county;
  const inquiryRows = (items) => items.map((i) => [
    personLink(i.person), i.record_id, i.from_county, i.to_county, word(i.type), fmtTime(i.sent_at_micros),
    fmtDate(i.due_on), el('span', { class: 'state', 'data-state': i.state, text: stateWord(i.state) }),
    i.state === 'received' || (i.state === 'overdue' && i.to_county === county)
      ? el('button', { class: 'btn btn-sm btn-primary reply-inquiry', type: 'button', text: t('due.reply'),
        onclick: () => go('form', { form: 'inquiry_reply', person: i.person, values: { 'inquiry_reply.inquiry_record_id': i.record_id, 'inquiry_reply.inquiry_county': i.from_county } }) })
      : '']);
  const inquiryHead = [t('col.person'), t('col.record'), t('col.from'), t('col.to'), t('col.type'), t('col.sent'), t('col.due'), t('col.state'), ''];
  const noticeRows = (items) => items.map((i) => [
    personLink(i.person), i.record_id, i.from_county, i.to_county,
    [i.needs_receipt ? t('due.needs_receipt') : '', i.needs_feedback ? t('due.needs_feedback') : ''].filter(Boolean).join('、'),
    fmtTime(i.sent_at_micros), fmtDate(i.due_on), el('span', { class: 'state', 'data-state': i.state, text: stateWord(i.state) }),
    i.state === 'received' || (i.state === 'overdue' && i.to_county === county) || i.state === 'awaiting feedback'
      ? el('button', { class: 'btn btn-sm btn-primary ack-notice', type: 'button', text: t('due.ack'),
        onclick: () => go('form', { form: 'receipt', person: i.person, values: { 'receipt.notice_record_id': i.record_id, 'receipt.notice_county': i.from_county } }) })
      : '']);
  const noticeHead = [t('col.person'), t('col.record'), t('col.from'), t('col.to'), t('col.needs'), t('col.sent'), t('col.due'), t('col.state'), ''];
  // What waits on this county: received and not answered (or overdue),
  // soonest deadline first; and what it sent that is overdue.
  const open = new Set(['received', 'awaiting feedback', 'overdue']);
  const mine = (i) => open.has(i.state) && (i.to_county === county || i.state === 'overdue');
  const byDue = (a, b) => fmtDate(a.due_on).localeCompare(fmtDate(b.due_on));
  const card = (id, label, n, kind) => el('div', { class: 'col' }, el('div', { class: 'card border-' + kind },
    el('div', { class: 'card-body' }, el('div', { class: 'count text-' + kind, id: id, text: String(n) }), el('div', { text: label }))));
  const openQ = allQ.data.items.filter(mine), openN = allN.data.items.filter(mine);
  m.appendChild(el('div', { class: 'row mb-3' },
    card('count-inquiries-open', t('due.inquiries_open'), openQ.length, 'primary'),
    card('count-inquiries-due', t('due.inquiries_due'), dueQ.data.items.length, 'warning'),
    card('count-inquiries-overdue', t('due.inquiries_overdue'), overQ.data.items.length, 'danger'),
    card('count-notices-open', t('due.notices_open'), openN.length, 'primary'),
    card('count-notices-due', t('due.notices_due'), dueN.data.items.length, 'warning'),
    card('count-notices-overdue', t('due.notices_overdue'), overN.data.items.length, 'danger')));
  m.appendChild(el('h2', { class: 'h5', text: t('due.inquiries_due_title') }));
  m.appendChild(table(inquiryHead, inquiryRows(openQ.sort(byDue)), { id: 'inquiries-due' }));
  m.appendChild(el('h2', { class: 'h5', text: t('due.notices_due_title') }));
  m.appendChild(table(noticeHead, noticeRows(openN.sort(byDue)), { id: 'notices-due' }));
  m.appendChild(el('h2', { class: 'h5', text: t('due.inquiries_all') }));
  m.appendChild(table(inquiryHead, inquiryRows(allQ.data.items), { id: 'inquiries-all' }));
  m.appendChild(el('h2', { class: 'h5', text: t('due.notices_all') }));
  m.appendChild(table(noticeHead, noticeRows(allN.data.items), { id: 'notices-all' }));
}

function personLink(id) {
  return el('a', { href: '#', class: 'person-link mono', text: mask(id),
    onclick: (ev) => { ev.preventDefault(); go('search', { person: id }); } });
}

// --- Clerk: search and the person page ---------------------------------------

async function pageSearch(arg) {
  const m = main();
  const out = el('div', { id: 'search-result' });
  const byId = el('form', { id: 'search-id', class: 'card card-body mb-3' },
    el('h2', { class: 'h6', text: t('search.by_id') }),
    field('person', t('field.person'), { value: arg && arg.person }),
    field('reason', t('field.reason'), { hint: t('hint.reason') }),
    el('button', { class: 'btn btn-primary', type: 'submit', id: 'search-id-submit', text: t('search.open') }));
  byId.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(byId);
    go('person', { person: byId.person.value.trim(), reason: byId.reason.value.trim() });
  });
  const byName = el('form', { id: 'search-name', class: 'card card-body mb-3' },
    el('h2', { class: 'h6', text: t('search.by_name') }),
    field('name', t('field.name')), field('birth_date', t('field.birth_date'), { date: true }),
    field('reason', t('field.reason'), { hint: t('hint.reason') }),
    el('button', { class: 'btn btn-primary', type: 'submit', id: 'search-name-submit', text: t('search.find') }));
  byName.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(byName);
    clear(out);
    const r = await call('SearchPersons', { name: byName.name.value, birth_date: parseDate(byName.birth_date.value), reason: byName.reason.value });
    if (!r.ok) { showError(out, r, byName); return; }
    const reason = byName.reason.value;
    out.appendChild(table([t('col.person'), t('field.name'), t('field.sex'), t('field.birth_date'), t('field.hukou_region'), ''],
      r.data.persons.map((p) => [el('span', { class: 'mono', text: p.person }), p.name, word(p.sex), fmtDate(p.birth_date), p.hukou_region,
        el('button', { class: 'btn btn-sm btn-outline-primary open-person', type: 'button', text: t('search.open'),
          onclick: () => go('person', { person: p.person, reason: reason }) })]), { id: 'search-results' }));
  });
  m.appendChild(el('div', { class: 'row' }, el('div', { class: 'col-md-6' }, byId), el('div', { class: 'col-md-6' }, byName)));
  m.appendChild(out);
}

async function pagePerson(arg) {
  const m = main();
  const { person, reason } = arg;
  const [rec, hist, where] = await Promise.all([
    call('GetPerson', { person, reason }), call('PersonHistory', { person, reason }), call('Where', { person, reason })]);
  if (!rec.ok) {
    showError(m, rec);
    m.appendChild(el('button', { class: 'btn btn-secondary', type: 'button', text: t('common.back'), onclick: () => go('search', { person }) }));
    return;
  }
  const p = rec.data;
  const basics = p.records.find((r) => r.kind === 'RECORD_KIND_PERSON_BASICS');
  const b = basics && basics.values[0] ? basics.values[0].person_basics : null;
  m.appendChild(el('div', { class: 'card card-body mb-3', id: 'person-basics' },
    el('h2', { class: 'h5', id: 'person-name', text: b ? b.name : t('person.no_basics') }),
    el('dl', { class: 'row mb-0' },
      el('dt', { class: 'col-sm-2', text: t('field.person') }), el('dd', { class: 'col-sm-4 mono', id: 'person-id', text: p.person }),
      el('dt', { class: 'col-sm-2', text: t('field.sex') }), el('dd', { class: 'col-sm-4', text: b ? word(b.sex) : '–' }),
      el('dt', { class: 'col-sm-2', text: t('field.birth_date') }), el('dd', { class: 'col-sm-4', text: b ? fmtDate(b.birth_date) : '–' }),
      el('dt', { class: 'col-sm-2', text: t('field.hukou_region') }), el('dd', { class: 'col-sm-4', text: b ? b.hukou_region + ' ' + (b.hukou_address || '') : '–' }))));
  const actions = el('div', { class: 'mb-3 no-print' }, FORM_ORDER.map((f) =>
    el('button', { class: 'btn btn-sm btn-outline-primary me-1 mb-1', type: 'button', 'data-form': f, text: t('form.' + f),
      onclick: () => go('form', { form: f, person: p.person }) })));
  m.appendChild(actions);
  m.appendChild(el('h2', { class: 'h5', text: t('person.records') }));
  m.appendChild(table([t('col.kind'), t('col.record'), t('col.writer'), t('col.versions'), t('col.value'), ''],
    p.records.map((r) => [word(r.kind), r.record_id, r.state.custodian, String(r.state.versions),
      r.values.length > 1 ? el('span', { class: 'text-danger', text: t('person.conflict') + ' ' + r.values.map(summary).join(' | ') }) : (r.values.length ? summary(r.values[0]) : t('person.retracted')),
      r.kind === 'RECORD_KIND_CERTIFICATE' && r.values[0] && r.values[0].certificate.issuer === state.session.node
        ? el('button', { class: 'btn btn-sm btn-outline-secondary show-qr', type: 'button', text: t('person.qr'),
          onclick: () => showQr(p.person, r.values[0].certificate.number, reason) }) : '']), { id: 'records' }));
  m.appendChild(el('div', { id: 'qr-box' }));
  m.appendChild(el('h2', { class: 'h5', text: t('person.links') }));
  m.appendChild(table([t('col.node'), t('col.role'), t('col.state')],
    Object.entries(p.links || {}).map(([node, link]) => [node, word(link.role), Number(link.ended_at_micros) ? t('person.link_ended') : t('person.link_active')]), { id: 'links' }));
  m.appendChild(el('h2', { class: 'h5', text: t('person.where') }));
  if (where.ok) {
    m.appendChild(table([t('col.node'), t('col.role'), t('col.state')],
      where.data.holders.map((h) => [h.node, word('LINK_ROLE_' + String(h.role).toUpperCase()), h.ended ? t('person.link_ended') : t('person.link_active')]), { id: 'where' }));
  } else {
    showError(m, where);
  }
  m.appendChild(el('h2', { class: 'h5', text: t('person.history') }));
  if (hist.ok) {
    m.appendChild(table([t('col.when'), t('col.event'), t('col.kind'), t('col.record'), t('col.operation'), t('col.value')],
      hist.data.entries.map((e) => [fmtTime(e.body.hlc.physical_micros), e.event.origin + '/' + e.event.epoch + '/' + e.event.seq,
        word(e.body.kind), e.body.record_id, word(e.body.operation), summary(e.value)]), { id: 'history' }));
  } else {
    showError(m, hist);
  }
}

// One line about a record value, in words.
function summary(v) {
  if (!v) return '';
  if (v.person_basics) return t('sum.basics', { name: v.person_basics.name, born: fmtDate(v.person_basics.birth_date), hukou: v.person_basics.hukou_region });
  if (v.outflow) return t('sum.outflow', { to: v.outflow.destination_county, on: fmtDate(v.outflow.left_on) });
  if (v.inflow) return t('sum.inflow', { from: v.inflow.origin_county, on: fmtDate(v.inflow.arrived_on) });
  if (v.return_registration) return t('sum.return', { type: word(v.return_registration.type), on: fmtDate(v.return_registration.effective_on) });
  if (v.certificate) return t('sum.certificate', { type: word(v.certificate.type), number: v.certificate.number }) + (v.certificate.revoked ? ' ' + t('sum.revoked') : '');
  if (v.service) return t('sum.service', { type: word(v.service.type), on: fmtDate(v.service.delivered_on), by: v.service.provider_county });
  if (v.entitlement) return t('sum.entitlement', { programme: v.entitlement.programme, status: word(v.entitlement.status) });
  if (v.inquiry) return t('sum.inquiry', { type: word(v.inquiry.type), to: v.inquiry.to_county, due: fmtDate(v.inquiry.due_on), question: v.inquiry.question });
  if (v.inquiry_reply) return t('sum.inquiry_reply', { county: v.inquiry_reply.inquiry_county, id: v.inquiry_reply.inquiry_record_id, answer: v.inquiry_reply.answer });
  if (v.notice) return t('sum.notice', { to: v.notice.to_county, subject: v.notice.subject });
  if (v.receipt) return t('sum.receipt', { county: v.receipt.notice_county, id: v.receipt.notice_record_id });
  return t('person.retracted');
}

async function showQr(person, number, reason) {
  const box = document.getElementById('qr-box');
  clear(box);
  const r = await call('CertificateQr', { person, number, reason });
  if (!r.ok) { showError(box, r); return; }
  const scale = 4, quiet = 4, n = r.data.size;
  const canvas = el('canvas', { class: 'qr', id: 'qr', width: (n + 2 * quiet) * scale, height: (n + 2 * quiet) * scale });
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#000';
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    if (r.data.modules[y * n + x] === '1') g.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
  }
  box.appendChild(el('div', { class: 'card card-body mb-3', id: 'certificate-print' },
    el('h3', { class: 'h6', text: t('qr.title', { number }) }), canvas,
    el('p', { class: 'mono small mt-2', text: r.data.text }),
    el('button', { class: 'btn btn-sm btn-secondary', type: 'button', text: t('qr.print'), onclick: () => window.print() })));
}

// --- Clerk: the forms ----------------------------------------------------

function field(name, label, o) {
  const opts = o || {};
  let input;
  if (opts.options) {
    input = el('select', { class: 'form-select', name, id: 'f-' + name },
      opts.options.map((v) => el('option', { value: v, text: word(v), selected: v === opts.value })));
  } else if (opts.checkbox) {
    return el('div', { class: 'form-check mb-2' },
      el('input', { class: 'form-check-input', type: 'checkbox', name, id: 'f-' + name, checked: !!opts.value }),
      el('label', { class: 'form-check-label', for: 'f-' + name, text: label }),
      el('div', { class: 'field-error', 'data-error-for': name }));
  } else if (opts.textarea) {
    input = el('textarea', { class: 'form-control', name, id: 'f-' + name, rows: '3' });
    if (opts.value) input.value = opts.value;
  } else {
    input = el('input', { class: 'form-control', name, id: 'f-' + name, value: opts.value || null,
      placeholder: opts.date ? 'YYYY-MM-DD' : null, inputmode: opts.number ? 'numeric' : null });
  }
  return el('div', { class: 'mb-2' },
    el('label', { class: 'form-label', for: 'f-' + name, text: label + (opts.required ? ' *' : '') }), input,
    opts.hint ? el('div', { class: 'form-text', text: opts.hint }) : null,
    el('div', { class: 'field-error', 'data-error-for': name }));
}

function clearErrors(form) {
  for (const s of form.querySelectorAll('.field-error')) s.textContent = '';
  for (const i of form.querySelectorAll('.is-invalid')) i.classList.remove('is-invalid');
}

// "2026-03-01" -> {year, month, day}; anything else is sent as it is typed
// apart, so that the node's validation names the field.
function parseDate(text) {
  const m = /^\s*(\d{1,4})-(\d{1,2})-(\d{1,2})\s*$/.exec(text || '');
  if (!m) return text && text.trim() ? { year: -1, month: 0, day: 0 } : null;
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

const SERVICE_TYPES = ['SERVICE_TYPE_PRENATAL_CHECK', 'SERVICE_TYPE_CHILD_IMMUNISATION', 'SERVICE_TYPE_HEALTH_CHECK',
  'SERVICE_TYPE_CONTRACEPTIVE_SUPPLIES', 'SERVICE_TYPE_HEALTH_EDUCATION', 'SERVICE_TYPE_BIRTH_REGISTRATION_HELP'];

// Every write tongbanctl has: the record kind, the value's field in
// RecordValue, its fields, and the record id tongbanctl derives.
const FORMS = {
  person_basics: { kind: 'RECORD_KIND_PERSON_BASICS', value: 'person_basics', fields: [
    ['name', 'field.name', { required: true }], ['sex', 'field.sex', { options: ['SEX_MALE', 'SEX_FEMALE'] }],
    ['birth_date', 'field.birth_date', { date: true, required: true }], ['hukou_region', 'field.hukou_region', { required: true }],
    ['hukou_address', 'field.hukou_address']], id: () => 'basics' },
  outflow: { kind: 'RECORD_KIND_OUTFLOW', value: 'outflow', fields: [
    ['destination_county', 'field.destination_county', { required: true }], ['left_on', 'field.left_on', { date: true, required: true }],
    ['reason', 'field.outflow_reason']], id: (v) => 'out-' + v.destination_county + '-' + fmtDate(v.left_on) },
  inflow: { kind: 'RECORD_KIND_INFLOW', value: 'inflow', fields: [
    ['origin_county', 'field.origin_county', { required: true }], ['previous_residence', 'field.previous_residence'],
    ['arrived_on', 'field.arrived_on', { date: true, required: true }], ['registered_on', 'field.registered_on', { date: true, required: true }],
    ['address', 'field.address', { required: true }], ['employer', 'field.employer']], id: (v) => 'in-' + fmtDate(v.arrived_on) },
  return_registration: { kind: 'RECORD_KIND_RETURN', value: 'return_registration', fields: [
    ['type', 'field.return_type', { options: ['RETURN_TYPE_RETURNED_HOME', 'RETURN_TYPE_DEPARTED'] }],
    ['effective_on', 'field.effective_on', { date: true, required: true }], ['from_county', 'field.from_county', { required: true }],
    ['to_county', 'field.to_county']], id: (v) => 'return-' + fmtDate(v.effective_on) },
  service: { kind: 'RECORD_KIND_SERVICE', value: 'service', fields: [
    ['type', 'field.service_type', { options: SERVICE_TYPES }], ['delivered_on', 'field.delivered_on', { date: true, required: true }],
    ['provider_county', 'field.provider_county', { required: true, own: true }], ['period', 'field.period'], ['notes', 'field.notes']],
  id: (v) => 'svc-' + v.type.replace('SERVICE_TYPE_', '').toLowerCase().replace(/_/g, '-') + '-' + fmtDate(v.delivered_on), duplicate: true },
  certificate: { kind: 'RECORD_KIND_CERTIFICATE', value: 'certificate', fields: [
    ['type', 'field.certificate_type', { options: ['CERTIFICATE_TYPE_MARRIAGE_FERTILITY', 'CERTIFICATE_TYPE_RESIDENCE_PERMIT'] }],
    ['number', 'field.number', { required: true }], ['issuer', 'field.issuer', { required: true, own: true }],
    ['valid_from', 'field.valid_from', { date: true, required: true }], ['valid_to', 'field.valid_to', { date: true, required: true }],
    ['attested_facts', 'field.attested_facts', { textarea: true, facts: true }], ['supersedes', 'field.supersedes']],
  id: (v) => 'cert-' + v.number },
  entitlement: { kind: 'RECORD_KIND_ENTITLEMENT', value: 'entitlement', fields: [
    ['programme', 'field.programme', { required: true }],
    ['status', 'field.entitlement_status', { options: ['ENTITLEMENT_STATUS_ELIGIBLE', 'ENTITLEMENT_STATUS_ACTIVE', 'ENTITLEMENT_STATUS_SUSPENDED', 'ENTITLEMENT_STATUS_ENDED'] }],
    ['amount_fen', 'field.amount_fen', { number: true }], ['period_from', 'field.period_from', { date: true, required: true }],
    ['period_to', 'field.period_to', { date: true, required: true }], ['delivered_by', 'field.delivered_by']],
  id: (v) => 'ent-' + v.programme },
  entitlement_delivery: { kind: 'RECORD_KIND_SERVICE', value: 'service', fields: [
    ['entitlement_record_id', 'field.entitlement_record_id', { required: true }], ['delivered_on', 'field.delivered_on', { date: true, required: true }],
    ['provider_county', 'field.provider_county', { required: true, own: true }], ['period', 'field.period'], ['notes', 'field.notes']],
  fixed: { type: 'SERVICE_TYPE_ENTITLEMENT_DELIVERY' }, id: (v) => 'delivery-' + v.entitlement_record_id + '-' + fmtDate(v.delivered_on), duplicate: true },
  inquiry: { kind: 'RECORD_KIND_INQUIRY', value: 'inquiry', fields: [
    ['to_county', 'field.to_county_inquiry', { required: true }],
    ['type', 'field.inquiry_type', { options: ['INQUIRY_TYPE_NORMAL', 'INQUIRY_TYPE_URGENT', 'INQUIRY_TYPE_CERTIFICATE_MISMATCH'] }],
    ['question', 'field.question', { textarea: true, required: true }]],
  id: (v) => 'inq-' + v.to_county + '-' + Math.floor(Date.now() / 1000) },
  inquiry_reply: { kind: 'RECORD_KIND_INQUIRY_REPLY', value: 'inquiry_reply', fields: [
    ['inquiry_record_id', 'field.inquiry_record_id', { required: true }], ['inquiry_county', 'field.inquiry_county', { required: true }],
    ['answer', 'field.answer', { textarea: true, required: true }], ['matched', 'field.matched', { checkbox: true }]],
  id: (v) => 'reply-' + v.inquiry_record_id },
  notice: { kind: 'RECORD_KIND_NOTICE', value: 'notice', fields: [
    ['to_county', 'field.to_county_notice', { required: true }], ['subject', 'field.subject', { required: true }],
    ['body', 'field.body', { textarea: true }], ['needs_receipt', 'field.needs_receipt', { checkbox: true }],
    ['needs_feedback', 'field.needs_feedback', { checkbox: true }]],
  id: (v) => 'notice-' + v.to_county + '-' + Math.floor(Date.now() / 1000) },
  receipt: { kind: 'RECORD_KIND_RECEIPT', value: 'receipt', fields: [
    ['notice_record_id', 'field.notice_record_id', { required: true }], ['notice_county', 'field.notice_county', { required: true }],
    ['feedback', 'field.feedback', { textarea: true }]], id: (v) => 'receipt-' + v.notice_record_id },
  certificate_revoke: { revoke: true, fields: [['number', 'field.number', { required: true }]] },
};
const FORM_ORDER = ['person_basics', 'outflow', 'inflow', 'return_registration', 'service', 'certificate',
  'certificate_revoke', 'entitlement', 'entitlement_delivery', 'inquiry', 'inquiry_reply', 'notice', 'receipt'];

async function pageWrite() {
  const m = main();
  m.appendChild(el('p', { class: 'text-muted', text: t('write.explain') }));
  m.appendChild(el('div', { class: 'list-group', id: 'form-list' }, FORM_ORDER.map((f) =>
    el('a', { href: '#', class: 'list-group-item list-group-item-action', 'data-form': f, text: t('form.' + f),
      onclick: (ev) => { ev.preventDefault(); go('form', { form: f }); } }))));
}

async function pageForm(arg) {
  const m = main();
  const spec = FORMS[arg.form];
  const prefix = spec.revoke ? 'certificate' : spec.value;
  document.getElementById('page-title').textContent = t('form.' + arg.form);
  const values = arg.values || {};
  const form = el('form', { id: 'write-form', class: 'card card-body', 'data-form': arg.form, novalidate: true },
    field('person', t('field.person'), { value: arg.person, required: true }),
    spec.fields.map(([name, label, o]) => field(prefix + '.' + name, t(label),
      Object.assign({}, o, { value: values[prefix + '.' + name] !== undefined ? values[prefix + '.' + name] : (o && o.own ? state.session.node : undefined) }))),
    field('reason', t('field.write_reason'), { hint: t(spec.revoke ? 'hint.reason_required' : 'hint.write_reason') }),
    el('div', { id: 'confirm-slot' }),
    el('button', { class: 'btn btn-primary', type: 'submit', id: 'write-submit', text: t('write.submit') }));
  const out = el('div', { id: 'write-result', class: 'mt-3' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    clear(out);
    const person = form.person.value.trim();
    let request;
    if (spec.revoke) {
      const number = form['certificate.number'].value.trim();
      const reason = form.reason.value.trim();
      const rec = await call('GetPerson', { person, reason });
      if (!rec.ok) { showError(out, rec, form); return; }
      const cert = rec.data.records.find((r) => r.kind === 'RECORD_KIND_CERTIFICATE' && r.values[0] && r.values[0].certificate.number === number);
      if (!cert) { out.appendChild(alertBox('danger', t('write.no_certificate', { number }))); return; }
      const value = cert.values[0];
      value.certificate.revoked = true;
      request = { person, kind: 'RECORD_KIND_CERTIFICATE', record_id: cert.record_id, operation: 'OPERATION_UPSERT', value, reason };
    } else {
      const v = Object.assign({}, spec.fixed || {});
      for (const [name, , o] of spec.fields) {
        const input = form[prefix + '.' + name];
        const opts = o || {};
        if (opts.checkbox) { v[name] = input.checked; continue; }
        const text = input.value.trim();
        if (opts.date) { const d = parseDate(text); if (d) v[name] = d; continue; }
        if (opts.facts) {
          const facts = {};
          for (const line of text.split('\n')) {
            const i = line.indexOf('=');
            if (i > 0) facts[line.slice(0, i).trim()] = line.slice(i + 1).trim();
          }
          v[name] = facts;
          continue;
        }
        if (opts.number) { if (text) v[name] = Number(text); continue; }
        if (text) v[name] = text;
      }
      const value = {};
      value[spec.value] = v;
      request = { person, kind: spec.kind, record_id: spec.id(v), operation: 'OPERATION_UPSERT', value,
        reason: form.reason.value.trim(),
        confirm_findings: !!(form.confirm_findings && form.confirm_findings.checked),
        confirm_duplicate: !!(form.confirm_duplicate && form.confirm_duplicate.checked) };
    }
    const r = await call('Write', request);
    if (!r.ok) {
      const e = showError(out, r, form);
      const slot = document.getElementById('confirm-slot');
      if (/citizen ID findings need/.test(e.original) && !form.confirm_findings) {
        slot.appendChild(field('confirm_findings', t('write.confirm_findings'), { checkbox: true }));
      }
      if (/^flagged: service/.test(e.original) && !form.confirm_duplicate) {
        slot.appendChild(field('confirm_duplicate', t('write.confirm_duplicate'), { checkbox: true }));
      }
      return;
    }
    const d = r.data;
    out.appendChild(alertBox('success', t('write.done', { event: d.event.origin + '/' + d.event.epoch + '/' + d.event.seq,
      person: d.person_masked, audience: (d.audience || []).join('、') }), null, 'write-done'));
    if (d.findings && d.findings.length) {
      out.appendChild(alertBox('warning', t('write.findings', { findings: d.findings.map(word).join('、') })));
    }
    if (arg.form === 'certificate') {
      out.appendChild(el('div', { id: 'qr-box' }));
      showQr(person, request.value.certificate.number, request.reason || t('qr.reason'));
    }
    out.appendChild(el('button', { class: 'btn btn-outline-primary mt-2', type: 'button', id: 'open-person', text: t('write.open_person'),
      onclick: () => go('person', { person, reason: request.reason || t('write.reason_after') }) }));
  });
  m.appendChild(form);
  m.appendChild(out);
}

// --- Clerk: import --------------------------------------------------------

async function pageImport() {
  const m = main();
  const form = el('form', { id: 'import-form', class: 'card card-body mb-3' },
    el('p', { class: 'text-muted', text: t('import.explain') }),
    el('input', { class: 'form-control mb-2', type: 'file', name: 'file', id: 'import-file', accept: '.csv,text/csv' }),
    field('encoding', t('import.encoding'), { options: ['utf-8', 'gb18030'] }),
    el('button', { class: 'btn btn-primary', type: 'submit', id: 'import-submit', text: t('import.start') }));
  const bar = el('div', { class: 'progress-bar', role: 'progressbar', id: 'import-bar', style: null });
  const progress = el('div', { class: 'progress mb-2', id: 'import-progress' }, bar);
  const out = el('div', { id: 'import-result' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(out);
    const file = form.file.files[0];
    if (!file) { out.appendChild(alertBox('warning', t('import.no_file'))); return; }
    const r = await post('/api/import/start', await file.arrayBuffer(), {
      'Content-Type': 'text/csv', 'X-File-Name': encodeURIComponent(file.name), 'X-Encoding': form.encoding.value });
    if (!r.ok) { showError(out, r); return; }
    poll(r.data.job);
  });
  async function poll(job) {
    const r = await post('/api/import/progress', JSON.stringify({ job }));
    if (!r.ok) { showError(out, r); return; }
    const p = r.data;
    const pct = p.bytes_total ? Math.floor(100 * p.bytes_read / p.bytes_total) : 100;
    bar.style.width = pct + '%';
    bar.textContent = pct + '%';
    bar.setAttribute('aria-valuenow', String(pct));
    clear(out);
    out.appendChild(el('p', { id: 'import-counts', text: t('import.counts', p) }));
    if (!p.done) { setTimeout(() => poll(job), 300); return; }
    if (p.error) out.appendChild(alertBox('danger', t('import.stopped'), p.error));
    else out.appendChild(alertBox('success', t('import.done'), null, 'import-done'));
    out.appendChild(el('button', { class: 'btn btn-outline-secondary', type: 'button', id: 'import-findings', text: t('import.findings'),
      onclick: async () => {
        const f = await post('/api/import/findings', JSON.stringify({ job }));
        if (!f.ok) { showError(out, f); return; }
        download(f.filename || 'findings.csv', f.data);
      } }));
  }
  m.appendChild(form);
  m.appendChild(progress);
  m.appendChild(out);
}

// --- Administrator ---------------------------------------------------------

async function pageStatus() {
  const m = main();
  const r = await call('Status', {});
  if (!r.ok) { showError(m, r); return; }
  const s = r.data;
  const rows = [
    [t('status.node'), s.node + ' (' + word('NODE_ROLE_' + s.role.toUpperCase()) + ')'],
    [t('status.suite'), s.suite],
    [t('status.signing_key'), s.signing_key_id],
    [t('status.roster'), 'v' + s.roster_version],
    [t('status.log'), t('status.log_value', { size: s.log_size, signed: s.signed_size })],
    [t('status.logs_held'), t('status.logs_held_value', { held: s.logs_held, frozen: s.frozen_origins })],
    [t('status.pending'), s.pending_peers.length ? s.pending_peers.join('、') : t('status.in_sync')],
    [t('status.disk'), (Number(s.disk_bytes) / 1048576).toFixed(1) + ' MiB'],
    [t('status.started'), fmtTime(s.started_at_micros)],
    [t('status.certificate_expiry'), fmtTime(s.certificate_not_after_micros)],
    [t('status.ca_expiry'), fmtTime(s.ca_not_after_micros)],
    [t('status.roster_issued'), fmtTime(s.roster_issued_at_micros)],
  ];
  m.appendChild(table([t('col.item'), t('col.value')], rows, { id: 'status' }));
}

async function pagePeers() {
  const m = main();
  const r = await call('Peers', {});
  if (!r.ok) { showError(m, r); return; }
  const out = el('div');
  m.appendChild(table([t('col.peer'), t('col.name'), t('col.roster_status'), t('col.connected'), t('col.last_batch'),
    t('col.behind_out'), t('col.behind_in'), t('col.held'), t('col.frozen'), t('col.bundle_out'), t('col.bundle_in'),
    t('col.last_error'), ''],
  r.data.peers.map((p) => [p.code, p.name, stateWord(p.status), p.connected ? t('common.yes') : t('common.no'), fmtTime(p.last_batch_micros),
    String(p.behind_outbound), String(p.behind_inbound), p.held || '–', p.frozen ? t('peers.frozen') : '–',
    p.bundle_exported_id ? `${fmtTime(p.bundle_exported_micros)} (${p.bundle_exported_events || 0}, ${
      p.bundle_acked_id === p.bundle_exported_id ? t('peers.bundle_acked') : t('peers.bundle_not_acked')})` : '–',
    p.bundle_received_id ? fmtTime(p.bundle_received_micros) : '–', p.last_error || '–',
    p.held ? el('button', { class: 'btn btn-sm btn-warning clear-hold', type: 'button', text: t('peers.clear_hold'),
      onclick: async () => {
        const c = await call('ClearHold', { peer: p.code });
        if (!c.ok) { showError(out, c); return; }
        go('peers');
      } }) : '']), { id: 'peers' }));
  m.appendChild(out);
}

function chart(canvasId, type, labels, datasets, yTitle) {
  const canvas = el('canvas', { id: canvasId });
  const box = el('div', { class: 'chart-box mb-4' }, canvas);
  main().appendChild(box);
  if (typeof Chart === 'undefined') return;
  state.charts.push(new Chart(canvas, { type, data: { labels, datasets },
    options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle } } } } }));
}

async function pageCharts() {
  const m = main();
  const r = await call('MetricsHistory', {});
  if (!r.ok) { showError(m, r); return; }
  const samples = r.data.samples;
  m.appendChild(el('p', { class: 'text-muted', id: 'charts-explain', text: t('charts.explain', { n: samples.length }) }));
  const labels = samples.map((s) => fmtTime(s.at_micros).slice(11, 16));
  const rate = (key) => samples.map((s, i) => {
    if (i === 0) return 0;
    const dt = (Number(s.at_micros) - Number(samples[i - 1].at_micros)) / 1e6;
    return dt > 0 ? Math.max(0, (Number(s[key]) - Number(samples[i - 1][key])) / dt) : 0;
  });
  m.appendChild(el('h2', { class: 'h6', text: t('charts.events') }));
  chart('chart-events', 'line', labels, [
    { label: t('charts.appended'), data: rate('own_events'), borderColor: '#0d6efd', pointRadius: 0 },
    { label: t('charts.applied'), data: rate('events_applied'), borderColor: '#198754', pointRadius: 0 },
    { label: t('charts.sent'), data: rate('events_sent'), borderColor: '#fd7e14', pointRadius: 0 }], t('charts.per_second'));
  m.appendChild(el('h2', { class: 'h6', text: t('charts.lag') }));
  chart('chart-lag', 'line', labels, [
    { label: t('charts.behind_out'), data: samples.map((s) => Number(s.behind_outbound)), borderColor: '#dc3545', pointRadius: 0 },
    { label: t('charts.behind_in'), data: samples.map((s) => Number(s.behind_inbound)), borderColor: '#6f42c1', pointRadius: 0 },
    { label: t('charts.lag_seconds'), data: samples.map((s) => Number(s.max_lag_seconds)), borderColor: '#6c757d', pointRadius: 0 }], t('charts.events_or_seconds'));
}

async function pageFleet() {
  const m = main();
  const view = { sort: 'FLEET_SORT_CODE', descending: false, offset: 0, limit: 50 };
  const box = el('div', { id: 'fleet-box' });
  m.appendChild(box);
  async function load() {
    const r = await call('Fleet', view);
    clear(box);
    if (!r.ok) { showError(box, r); return; }
    const f = r.data;
    const keys = ['FLEET_SORT_CODE', 'FLEET_SORT_NAME', 'FLEET_SORT_LAST_SEEN', 'FLEET_SORT_BEHIND_OUTBOUND',
      'FLEET_SORT_BEHIND_INBOUND', 'FLEET_SORT_LOG_SIZE', 'FLEET_SORT_CHECKPOINT_TIME', 'FLEET_SORT_SOFTWARE_VERSION',
      'FLEET_SORT_ROSTER_VERSION', 'FLEET_SORT_CERT_EXPIRY', 'FLEET_SORT_HELD', 'FLEET_SORT_FROZEN'];
    box.appendChild(el('p', { id: 'fleet-summary', text: t('fleet.summary', { total: f.total, from: f.total ? view.offset + 1 : 0,
      to: view.offset + f.nodes.length, at: fmtTime(f.computed_at_micros) }) }));
    const now = Number(f.computed_at_micros);
    const roster = Number(f.roster_version);
    // The newest checkpoint: its size and when it was signed; the roster the
    // node's Hello named (behind ours, marked); the days its certificate has left.
    const checkpoint = (n) => (Number(n.checkpoint_size) ? t('fleet.checkpoint', { size: n.checkpoint_size, at: fmtTime(n.checkpoint_micros) }) : '–');
    const rosterOf = (n) => { const v = Number(n.roster_version); return !v ? '–' : (v < roster ? t('fleet.roster_behind', { v }) : 'v' + v); };
    const certDays = (n) => {
      const at = Number(n.cert_not_after_micros);
      if (!at) return '–';
      return at <= now ? t('fleet.cert_expired') : t('fleet.cert_days', { days: Math.floor((at - now) / 86400e6) });
    };
    box.appendChild(table([t('col.node'), t('col.name'), t('col.last_seen'), t('col.behind_out'), t('col.behind_in'),
      t('col.log_size'), t('col.checkpoint'), t('col.software_version'), t('col.roster_version'), t('col.cert_days'),
      t('col.held'), t('col.frozen'), t('col.connected')],
    f.nodes.map((n) => [n.code, n.name, fmtTime(n.last_seen_micros), String(n.behind_outbound), String(n.behind_inbound),
      String(n.log_size), checkpoint(n), n.software_version || '–', rosterOf(n), certDays(n),
      n.held || '–', n.frozen ? t('peers.frozen') : '–', n.connected ? t('common.yes') : t('common.no')]),
    { id: 'fleet', sortKeys: keys.concat(['']), onSort: (k) => { view.descending = view.sort === k ? !view.descending : false; view.sort = k; view.offset = 0; load(); } }));
    box.appendChild(el('div', { class: 'btn-group' },
      el('button', { class: 'btn btn-sm btn-outline-secondary', type: 'button', id: 'fleet-prev', disabled: view.offset === 0, text: t('common.prev'),
        onclick: () => { view.offset = Math.max(0, view.offset - view.limit); load(); } }),
      el('button', { class: 'btn btn-sm btn-outline-secondary', type: 'button', id: 'fleet-next', disabled: view.offset + view.limit >= f.total, text: t('common.next'),
        onclick: () => { view.offset += view.limit; load(); } })));
  }
  await load();
}

// --- Statistics (every role) ----------------------------------------------

function lastMonths(n) {
  const now = new Date(Date.now() + 8 * 3600 * 1000);
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1));
    out.push(d.toISOString().slice(0, 7));
  }
  return out;
}

function pct(r) {
  return r && Number(r.denominator) ? (100 * Number(r.numerator) / Number(r.denominator)) : null;
}

async function pageStats() {
  const m = main();
  const months = lastMonths(12);
  const r = await call('StatsMany', { requests: months.map((p) => ({ period_kind: 'STATS_PERIOD_KIND_MONTH', period: p })) });
  if (!r.ok) { showError(m, r); return; }
  const top = r.data.replies.map((rep) => rep.rows.find((row) => row.scope === rep.scope) || rep.rows[0] || {});
  const flows = (row, k) => (row.flows || []).reduce((a, f) => a + Number(f[k] || 0), 0);
  m.appendChild(el('p', { class: 'text-muted', text: t('stats.explain', { scope: r.data.replies[0] ? r.data.replies[0].scope : '' }) }));
  m.appendChild(el('h2', { class: 'h6', text: t('stats.flows') }));
  chart('chart-flows', 'bar', months, [
    { label: t('stats.inflows'), data: top.map((row) => flows(row, 'inflows')), backgroundColor: '#0d6efd' },
    { label: t('stats.outflows'), data: top.map((row) => flows(row, 'outflows')), backgroundColor: '#fd7e14' }]);
  m.appendChild(el('h2', { class: 'h6', text: t('stats.rates') }));
  chart('chart-rates', 'line', months, [
    { label: t('measure.feedback'), data: top.map((row) => pct(row.feedback)), borderColor: '#198754' },
    { label: t('measure.receipt'), data: top.map((row) => pct(row.receipt)), borderColor: '#6f42c1' },
    { label: t('measure.registration_timeliness'), data: top.map((row) => pct(row.registration_timeliness)), borderColor: '#dc3545' }], '%');
  const measures = ['feedback', 'on_time_feedback', 'receipt', 'registration_timeliness', 'certificate_coverage', 'completeness'];
  m.appendChild(table([t('col.month')].concat(measures.map((k) => t('measure.' + k))),
    months.map((mo, i) => [mo].concat(measures.map((k) => {
      const v = top[i][k];
      return v && Number(v.denominator) ? Number(v.numerator) + '/' + Number(v.denominator) + ' (' + pct(v).toFixed(1) + '%)' : '–';
    }))), { id: 'stats-table' }));
  const year = el('input', { class: 'form-control d-inline-block w-auto me-2', id: 'ledger-year', value: String(new Date().getFullYear()) });
  const out = el('span');
  m.appendChild(el('div', { class: 'mt-3' }, el('label', { for: 'ledger-year', class: 'me-2', text: t('stats.ledger_year') }), year,
    el('button', { class: 'btn btn-outline-primary', type: 'button', id: 'ledger-download', text: t('stats.ledger'),
      onclick: async () => {
        clear(out);
        const l = await call('LedgerCsv', { year: year.value.trim() });
        if (!l.ok) { showError(out, l); return; }
        download(l.filename || 'ledger.csv', l.data);
      } }), out));
}

// --- Auditor ------------------------------------------------------------------

function auditRows(entries) {
  return entries.map((e) => [String(e.seq), fmtTime(e.at_micros), e.operator, word('OPERATOR_ROLE_' + String(e.role).toUpperCase()),
    t('action.' + e.action) !== 'action.' + e.action ? t('action.' + e.action) : e.action,
    e.person ? el('span', { class: 'mono', text: mask(e.person) }) : '–', e.reason, e.outcome]);
}

const AUDIT_HEAD = () => ['#', t('col.when'), t('col.operator'), t('col.role'), t('col.action'), t('col.person'), t('col.reason'), t('col.outcome')];

function auditCsv(entries) {
  const lines = [['seq', 'time', 'operator', 'role', 'action', 'person', 'reason', 'outcome'].join(',')];
  for (const e of entries) lines.push([e.seq, fmtTime(e.at_micros), e.operator, e.role, e.action, e.person, e.reason, e.outcome].map(csvCell).join(','));
  return '\ufeff' + lines.join('\r\n') + '\r\n';
}

function toMicros(text, endOfDay) {
  const d = parseDate(text);
  if (!d || d.year < 0) return 0;
  return (Date.UTC(d.year, d.month - 1, d.day) - 8 * 3600 * 1000 + (endOfDay ? 86400000 : 0)) * 1000;
}

async function pageAudit() {
  const m = main();
  const form = el('form', { id: 'audit-form', class: 'row g-2 mb-3' },
    el('div', { class: 'col-md-2' }, field('operator', t('col.operator'))),
    el('div', { class: 'col-md-3' }, field('person', t('field.person'))),
    el('div', { class: 'col-md-2' }, field('action', t('col.action'), { options: ['', 'person.read', 'person.history', 'person.where', 'person.search', 'record.write', 'record.import', 'inquiry.list', 'notice.list', 'operator.login', 'audit.query', 'audit.access_report', 'peer.clear_hold', 'certificate.payload'] })),
    el('div', { class: 'col-md-2' }, field('from', t('audit.from'), { date: true })),
    el('div', { class: 'col-md-2' }, field('to', t('audit.to'), { date: true })),
    el('div', { class: 'col-md-1 align-self-end mb-2' }, el('button', { class: 'btn btn-primary', type: 'submit', id: 'audit-submit', text: t('audit.filter') })));
  const out = el('div', { id: 'audit-result' });
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  async function load() {
    clear(out);
    const r = await call('Audit', { operator: form.operator.value.trim(), person: form.person.value.trim(), action: form.action.value,
      from_micros: toMicros(form.from.value, false), to_micros: toMicros(form.to.value, true), limit: 500 });
    if (!r.ok) { showError(out, r, form); return; }
    out.appendChild(r.data.chain_verified
      ? alertBox('success', t('audit.verified', { size: r.data.size }), null, 'chain-verified')
      : alertBox('danger', t('audit.not_verified'), null, 'chain-verified'));
    out.appendChild(el('button', { class: 'btn btn-sm btn-outline-secondary mb-2', type: 'button', id: 'audit-csv', text: t('audit.csv'),
      onclick: () => download('audit.csv', auditCsv(r.data.entries)) }));
    out.appendChild(table(AUDIT_HEAD(), auditRows(r.data.entries), { id: 'audit' }));
  }
  m.appendChild(form);
  m.appendChild(out);
  await load();
}

async function pageReport() {
  const m = main();
  m.appendChild(el('p', { class: 'text-muted', text: t('report.explain') }));
  const form = el('form', { id: 'report-form', class: 'card card-body mb-3' },
    field('person', t('field.person'), { required: true }),
    field('from', t('audit.from'), { date: true }), field('to', t('audit.to'), { date: true }),
    field('reason', t('field.reason'), { hint: t('hint.report_reason') }),
    el('button', { class: 'btn btn-primary', type: 'submit', id: 'report-submit', text: t('report.make') }));
  const out = el('div', { id: 'report-result' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    clear(out);
    const r = await call('AccessReport', { person: form.person.value.trim(), from_micros: toMicros(form.from.value, false),
      to_micros: toMicros(form.to.value, true), reason: form.reason.value.trim() });
    if (!r.ok) { showError(out, r, form); return; }
    out.appendChild(alertBox(r.data.chain_verified ? 'success' : 'danger',
      t('report.summary', { n: r.data.entries.length, person: r.data.person_masked }), null, 'report-summary'));
    out.appendChild(el('button', { class: 'btn btn-outline-primary mb-2', type: 'button', id: 'report-csv', text: t('report.csv'),
      onclick: () => download('access-report-' + r.data.person_masked.replace(/\*/g, 'x') + '.csv', r.data.csv) }));
    out.appendChild(table(AUDIT_HEAD(), auditRows(r.data.entries), { id: 'report' }));
  });
  m.appendChild(form);
  m.appendChild(out);
}

// --- Start --------------------------------------------------------------------

async function start() {
  await loadMessages();
  const langButton = document.getElementById('lang');
  langButton.textContent = t('nav.switch_language');
  langButton.addEventListener('click', async () => {
    state.lang = state.lang === 'zh-CN' ? 'en' : 'zh-CN';
    localStorage.setItem('tb_lang', state.lang);
    await loadMessages();
    langButton.textContent = t('nav.switch_language');
    document.getElementById('logout').textContent = t('nav.logout');
    if (state.session) startApp(); else showLogin();
  });
  document.getElementById('logout').textContent = t('nav.logout');
  document.getElementById('logout').addEventListener('click', logout);
  document.getElementById('brand').textContent = t('nav.brand');
  const r = await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  if (r.ok) {
    state.session = await r.json();
    startApp();
  } else {
    showLogin();
  }
}

document.addEventListener('DOMContentLoaded', start);
