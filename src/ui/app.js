// tracksd's page: a plain client of the public API (/login, /users/me, /logout,
// /tracks, /tracks/export). Every value from the server is shown with
// textContent, never parsed as HTML.
'use strict';

const PAGE = 10;
const FIELDS = ['id', 'title', 'artist', 'album', 'year', 'label'];

const $ = (id) => document.getElementById(id);
const field = (name) => $('editor').elements.namedItem(name);
const state = { skip: 0, total: 0, search: '', user: null, editing: null };

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(method, path, body, type) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = body;
    init.headers['Content-Type'] = type || 'application/json';
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    return { status: 0, data: { detail: 'The server cannot be reached.' }, headers: new Headers() };
  }
  let data = null;
  try { data = await r.json(); } catch (e) { /* no JSON body (204) */ }
  return { status: r.status, data, headers: r.headers };
}

// The human part of an error answer.
function detailText(r) {
  const d = r.data && r.data.detail;
  if (typeof d === 'string') return d;
  if (r.status === 413) return 'Too large: beyond the catalogue bounds the server is set up for.';
  if (r.status === 429) return 'Too many attempts; wait a moment.';
  return 'The server answered ' + r.status + '.';
}

function setUser(name) {
  state.user = name;
  $('who').hidden = !name;
  $('username').textContent = name || '';
  $('login').hidden = !!name;
  document.querySelectorAll('.writer').forEach((e) => { e.hidden = !name; });
  if (!name) closeEditor();
}

async function whoami() {
  const r = await api('GET', '/users/me');
  setUser(r.status === 200 ? r.data.username : null);
}

async function login(ev) {
  ev.preventDefault();
  const form = $('login').elements;
  const body = new URLSearchParams({ username: form.username.value, password: form.password.value });
  $('login-error').textContent = '';
  const r = await api('POST', '/login', body.toString(), 'application/x-www-form-urlencoded');
  if (r.status === 200) {
    form.password.value = '';
    await whoami();
    await load();
    return;
  }
  let why = r.status === 401 ? 'Wrong username or password.' : detailText(r);
  const wait = r.headers.get('Retry-After');
  if (r.status === 429 && wait) why = 'Too many attempts; try again in ' + wait + ' s.';
  $('login-error').textContent = why;
}

async function logout() {
  await api('POST', '/logout');
  setUser(null);
  await load();
}

function trackRow(t) {
  const li = el('li');
  li.dataset.id = String(t.id);
  li.append(el('span', 'title', t.title));
  const meta = [t.artist, t.album, String(t.year), t.label].filter((v) => v !== null && v !== '');
  li.append(el('span', 'meta', meta.join(' · ') + ' · #' + t.id));
  if (state.user) {
    const actions = el('span', 'row-actions');
    const edit = el('button', 'small', 'Edit');
    edit.type = 'button';
    edit.addEventListener('click', () => openEditor(t));
    const del = el('button', 'small danger', 'Delete');
    del.type = 'button';
    del.addEventListener('click', () => remove(t));
    actions.append(edit, del);
    li.append(actions);
  }
  return li;
}

async function load() {
  const q = new URLSearchParams({ skip: state.skip, limit: PAGE });
  if (state.search) q.set('search', state.search);
  const r = await api('GET', '/tracks?' + q);
  const list = $('tracks');
  list.replaceChildren();
  if (r.status !== 200) {
    $('status').textContent = r.status === 401 ? 'Log in to see the tracks.' : detailText(r);
    state.total = 0;
  } else {
    state.total = Number(r.headers.get('X-Total-Count') || r.data.length);
    if (state.total > 0 && state.skip >= state.total) {
      state.skip = Math.max(0, (Math.ceil(state.total / PAGE) - 1) * PAGE);
      return load();
    }
    r.data.forEach((t) => list.append(trackRow(t)));
    const what = state.search ? ' matching “' + state.search + '”' : '';
    $('status').textContent = state.total === 0 ? 'No tracks' + what + '.' : state.total + ' track' + (state.total === 1 ? '' : 's') + what + '.';
  }
  const last = Math.min(state.skip + PAGE, state.total);
  $('range').textContent = state.total ? (state.skip + 1) + '–' + last + ' of ' + state.total : '';
  $('prev').disabled = state.skip === 0;
  $('next').disabled = last >= state.total;
}

function clearErrors() {
  document.querySelectorAll('#editor .error').forEach((e) => { e.textContent = ''; });
  document.querySelectorAll('#editor input').forEach((e) => e.removeAttribute('aria-invalid'));
}

function openEditor(t) {
  clearErrors();
  state.editing = t ? t.id : null;
  $('editor-title').textContent = t ? 'Edit track #' + t.id : 'Add a track';
  FIELDS.forEach((f) => { field(f).value = t && t[f] !== null ? String(t[f]) : ''; });
  field('id').readOnly = !!t;
  $('editor').hidden = false;
  // The form is above the list: on a phone, Edit on a row far down must show it.
  $('editor').scrollIntoView({ block: 'start' });
  field(t ? 'title' : 'id').focus({ preventScroll: true });
}

function closeEditor() {
  $('editor').hidden = true;
  state.editing = null;
}

// Shows a 422's errors next to the fields their `loc` names.
function showErrors(r) {
  const detail = r.data && r.data.detail;
  if (!Array.isArray(detail)) {
    document.querySelector('#editor .error[data-for=""]').textContent = detailText(r);
    return;
  }
  detail.forEach((e) => {
    const named = e.loc && e.loc[0] === 'body' && FIELDS.includes(e.loc[1]) ? e.loc[1] : '';
    const slot = document.querySelector('#editor .error[data-for="' + named + '"]');
    slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + e.msg;
    if (named) field(named).setAttribute('aria-invalid', 'true');
  });
}

async function save(ev) {
  ev.preventDefault();
  clearErrors();
  const track = {};
  // Numbers go as text: the API reads "1999" as 1999, exactly, whatever its size.
  FIELDS.forEach((f) => { track[f] = field(f).value.trim(); });
  ['album', 'label'].forEach((f) => { if (track[f] === '') track[f] = null; });
  const editing = state.editing !== null;
  const r = editing
    ? await api('PUT', '/tracks/' + encodeURIComponent(track.id), JSON.stringify(track))
    : await api('POST', '/tracks', JSON.stringify(track));
  if (r.status === 200) {
    closeEditor();
    await load();
  } else if (r.status === 401) {
    setUser(null);
  } else {
    showErrors(r);
  }
}

async function remove(t) {
  if (!window.confirm('Delete “' + t.title + '” by ' + t.artist + '?')) return;
  const r = await api('DELETE', '/tracks/' + t.id);
  if (r.status !== 204) window.alert(detailText(r));
  await load();
}

function restoreMessage(text, ok) {
  const out = $('restore-status');
  out.textContent = text;
  out.className = ok ? 'ok' : 'bad';
}

async function restore() {
  const input = $('restore');
  const file = input.files[0];
  input.value = '';
  if (!file) return;
  const text = await file.text();
  let items;
  try { items = JSON.parse(text); } catch (e) { items = null; }
  if (!Array.isArray(items)) {
    restoreMessage(file.name + ' is not a tracksd backup (a JSON array of tracks).', false);
    return;
  }
  const question = 'Replace the whole catalogue (' + state.total + ' tracks now) with the ' +
    items.length + ' tracks in ' + file.name + '? This cannot be undone.';
  if (!window.confirm(question)) return;
  const r = await api('PUT', '/tracks', text);
  if (r.status === 200) {
    restoreMessage('Restored ' + r.data.restored + ' tracks from ' + file.name + '.', true);
    state.skip = 0;
  } else if (r.status === 422 && Array.isArray(r.data.detail)) {
    const e = r.data.detail[0];
    const at = typeof e.loc[1] === 'number' ? 'Track ' + (e.loc[1] + 1) + (e.loc[2] ? ' (' + e.loc[2] + ')' : '') + ': ' : '';
    restoreMessage('Nothing was changed. ' + at + e.msg, false);
  } else {
    restoreMessage('Nothing was changed: ' + detailText(r), false);
  }
  await load();
}

function start() {
  $('login').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.search = $('search-text').value.trim();
    state.skip = 0;
    load();
  });
  $('prev').addEventListener('click', () => { state.skip = Math.max(0, state.skip - PAGE); load(); });
  $('next').addEventListener('click', () => { state.skip += PAGE; load(); });
  $('add').addEventListener('click', () => openEditor(null));
  $('cancel').addEventListener('click', closeEditor);
  $('editor').addEventListener('submit', save);
  $('restore').addEventListener('change', restore);
  whoami().then(load);
}

start();
