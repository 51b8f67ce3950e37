// Drives the page at /ui/ in the system Chromium as a person would; tests/browser.rs runs it.
//
//   node ui.mjs BASE_URL SECOND_BASE_URL ARTIFACT_DIR
//
// BASE_URL is a server with john/password and at least 21 tracks; SECOND_BASE_URL a
// fresh server that the downloaded backup is restored into. Every request to an
// origin other than the page's own is aborted and counted, and so is every such
// load the page's CSP refused (there must be none).
// Screenshots (ui-phone.png, ui-phone-login.png, ui-phone-editor.png, ui-desktop.png) and the
// downloaded backup (ui-backup.json) go to ARTIFACT_DIR. Prints one line per
// check; exits non-zero with the reason on the first failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [base, second, artifacts] = process.argv.slice(2);
if (!base || !second || !artifacts) {
  console.error('usage: node ui.mjs BASE_URL SECOND_BASE_URL ARTIFACT_DIR');
  process.exit(2);
}

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});

const elsewhere = [];
const dialogs = [];
const consoleLines = [];
const pageErrors = [];

// A browser context (its own cookie jar: both servers are on 127.0.0.1) whose
// pages may reach `origin` only. Confirm dialogs are accepted only while
// `expectConfirm` is set; any other dialog (an alert from injected markup) is
// recorded and dismissed.
let expectConfirm = false;
async function openPage(origin, viewport) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    if (d.type() === 'confirm' && expectConfirm) d.accept(); else d.dismiss();
  });
  page.on('console', (m) => {
    consoleLines.push(m.text());
    // A load the CSP refused never reaches the route above: count it here.
    // ("Loading the stylesheet 'URL' violates the following Content Security Policy…")
    const refused = /Content Security Policy/.test(m.text()) && /'(https?:\/\/[^']+)'/.exec(m.text());
    if (refused && new URL(refused[1]).origin !== origin) elsewhere.push(`${refused[1]} (refused by the CSP)`);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return page;
}

async function confirming(action) {
  const before = dialogs.length;
  expectConfirm = true;
  try {
    await action();
  } finally {
    expectConfirm = false;
  }
  return dialogs.slice(before);
}

async function logIn(page) {
  await page.locator('#login input[name=username]').fill('john');
  await page.locator('#login input[name=password]').fill('password');
  await page.locator('#login button[type=submit]').click();
  await page.locator('#who').waitFor();
}

// The visible list: [data-id, title text] per row.
async function rows(page) {
  return page.locator('#tracks li').evaluateAll((lis) =>
    lis.map((li) => [li.dataset.id, li.querySelector('.title').textContent]));
}

async function search(page, text) {
  const status = page.locator('#status');
  const before = await status.textContent();
  await page.locator('#search-text').fill(text);
  await page.locator('#search button[type=submit]').click();
  // The status line names the search once the answer is shown.
  if (text) await page.waitForFunction((t) => document.getElementById('status').textContent.includes(t), text);
  else await page.waitForFunction((b) => document.getElementById('status').textContent !== b, before);
}

async function fetchIn(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, total: r.headers.get('X-Total-Count'), text: await r.text() };
  }, path);
}

async function fillEditor(page, values) {
  for (const [name, value] of Object.entries(values)) {
    await page.locator(`#editor input[name=${name}]`).fill(value);
  }
}

const origin = new URL(base).origin;
const page = await openPage(origin, { width: 1280, height: 800 });
let restorePage;
try {
  // A browser's navigation to / lands on the page; nobody is logged in yet.
  await page.goto(`${base}/`, { waitUntil: 'load' });
  check(new URL(page.url()).pathname === '/ui/', `/ goes to /ui/ (${page.url()})`);
  await page.locator('#login').waitFor();
  check(await page.locator('#who').isHidden(), 'logged out: the login form shows, no user');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#tracks li').first().waitFor();
  await page.screenshot({ path: join(artifacts, 'ui-phone-login.png') });
  await page.setViewportSize({ width: 1280, height: 800 });

  await logIn(page);
  check((await page.locator('#username').textContent()) === 'john', 'logged in: it says john');
  check(await page.locator('#login').isHidden(), 'the login form is gone');
  const cookies = await page.context().cookies();
  const session = cookies.filter((c) => c.httpOnly);
  const visible = await page.evaluate(() => document.cookie);
  check(session.length > 0 && session.every((c) => !visible.includes(c.name)),
    `the session cookie is HttpOnly, not in document.cookie (${session.map((c) => c.name)}; page sees "${visible}")`);

  // Paging, counted by X-Total-Count.
  await page.locator('#tracks li').first().waitFor();
  const total = Number((await fetchIn(page, '/tracks?limit=1')).total);
  check(total >= 21, `X-Total-Count says ${total} tracks`);
  check((await page.locator('#status').textContent()).startsWith(`${total} tracks`), 'the status line counts them all');
  check((await page.locator('#range').textContent()) === `1–10 of ${total}`, 'the range is 1–10');
  check(await page.locator('#prev').isDisabled(), 'no previous page on the first');
  const first = await rows(page);
  await page.locator('#next').click();
  await page.waitForFunction(() => document.getElementById('range').textContent.startsWith('11–'));
  const secondPage = await rows(page);
  check(secondPage.length === 10 && secondPage.every((r) => !first.some((f) => f[0] === r[0])),
    'Next shows 10 other tracks');
  await page.locator('#prev').click();
  await page.waitForFunction(() => document.getElementById('range').textContent.startsWith('1–'));
  check(JSON.stringify(await rows(page)) === JSON.stringify(first), 'Previous shows the first page again');

  // Search: substring of title, artist or album, any case.
  await search(page, 'RADIO');
  const radio = await rows(page);
  check(radio.length === 1 && radio[0][1] === 'High & Dry', `search RADIO finds High & Dry (${radio})`);
  await search(page, 'seeded');
  check((await page.locator('#range').textContent()) === '1–10 of 21', 'search "seeded" pages through 21 matches');
  await search(page, '');
  check((await page.locator('#range').textContent()) === `1–10 of ${total}`, 'an empty search lists all again');

  // Add with a bad year: the 422 shows next to the year field; fix it and add.
  await page.locator('#add').click();
  await fillEditor(page, { id: '9001', title: 'Browser Song', artist: 'Playwright', year: '12345' });
  await page.locator('#editor button[type=submit]').click();
  const yearError = page.locator('#editor .error[data-for=year]');
  await yearError.waitFor();
  const yearText = await yearError.textContent();
  check(/9999/.test(yearText), `a 422 for year 12345 shows by the year field ("${yearText}")`);
  check((await page.locator('#editor input[name=year]').getAttribute('aria-invalid')) === 'true', 'the year field is marked invalid');
  check((await page.locator('#editor .error[data-for=title]').textContent()) === '', 'no error by the title');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(artifacts, 'ui-phone-editor.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await fillEditor(page, { year: '1999' });
  await page.locator('#editor button[type=submit]').click();
  await page.locator('#editor').waitFor({ state: 'hidden' });
  check((await fetchIn(page, '/tracks/9001')).status === 200, 'fixed, the track is added');

  // Edit it.
  await search(page, 'Browser Song');
  await page.locator('#tracks li[data-id="9001"] button', { hasText: 'Edit' }).click();
  check((await page.locator('#editor-title').textContent()) === 'Edit track #9001', 'Edit opens the track');
  check((await page.locator('#editor input[name=year]').inputValue()) === '1999', 'with its fields filled in');
  await fillEditor(page, { title: 'Browser Song (edited)' });
  await page.locator('#editor button[type=submit]').click();
  await page.locator('#editor').waitFor({ state: 'hidden' });
  await page.waitForFunction(() => document.querySelector('#tracks li[data-id="9001"] .title')?.textContent === 'Browser Song (edited)');
  check(JSON.parse((await fetchIn(page, '/tracks/9001')).text).title === 'Browser Song (edited)', 'the edit is saved');

  // A title that is markup is shown as text: no element, no script.
  const markup = '<img src=x onerror=alert(1)>';
  await page.locator('#add').click();
  await fillEditor(page, { id: '9002', title: markup, artist: 'Mallory', year: '2000' });
  await page.locator('#editor button[type=submit]').click();
  await page.locator('#editor').waitFor({ state: 'hidden' });
  await search(page, 'onerror');
  const shown = page.locator('#tracks li[data-id="9002"] .title');
  check((await shown.innerText()) === markup && await shown.isVisible(), 'the markup title is visible as text');
  check(await page.locator('#tracks img').count() === 0, 'no img element was made');

  // The CSP blocks an inline script injected into the page.
  const injected = await page.evaluate(async () => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
    const s = document.createElement('script');
    s.textContent = 'window.__injectedRan = true;';
    document.body.append(s);
    await new Promise((r) => setTimeout(r, 200));
    return { ran: window.__injectedRan === true, violations };
  });
  check(!injected.ran, 'the injected inline script did not run');
  check(injected.violations.some((d) => d.startsWith('script-src')), `a CSP violation was reported (${injected.violations})`);
  check(consoleLines.some((l) => l.includes('Content Security Policy')), 'the console says the CSP refused it');
  check(dialogs.length === 0, `no dialog was opened by injected code (${dialogs})`);

  // Delete, after the confirmation.
  await search(page, 'Browser Song');
  const asked = await confirming(async () => {
    await page.locator('#tracks li[data-id="9001"] button', { hasText: 'Delete' }).click();
    await page.locator('#tracks li[data-id="9001"]').waitFor({ state: 'detached' });
  });
  check(asked.length === 1 && asked[0].startsWith('confirm: Delete'), `Delete asks first (${asked})`);
  check((await fetchIn(page, '/tracks/9001')).status === 404, 'the track is deleted');
  await search(page, '');

  // On a phone, Edit on the last row of a page shows the form (it is above the list).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#tracks li').last().locator('button', { hasText: 'Edit' }).click();
  const formTop = await page.evaluate(() => document.getElementById('editor').getBoundingClientRect().top);
  check(formTop > -2 && formTop < 100, `on a phone, Edit on the last row brings the form into view (top at ${formTop} px)`);
  await page.locator('#cancel').click();
  await page.setViewportSize({ width: 1280, height: 800 });

  // Screenshots of the list, logged in, at desktop and phone width.
  await page.screenshot({ path: join(artifacts, 'ui-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(artifacts, 'ui-phone.png'), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `at 390 px nothing is wider than the screen (${overflow} px over)`);
  await page.setViewportSize({ width: 1280, height: 800 });

  // Download backup: the file is GET /tracks/export, byte for byte.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#backup').click()]);
  const backupPath = join(artifacts, 'ui-backup.json');
  await download.saveAs(backupPath);
  const backup = readFileSync(backupPath, 'utf8');
  check(download.suggestedFilename() === 'tracks-backup.json', `the download is named ${download.suggestedFilename()}`);
  const exported = await fetchIn(page, '/tracks/export');
  check(backup === exported.text, 'the downloaded backup is GET /tracks/export');
  const items = JSON.parse(backup);
  check(Array.isArray(items) && items.length === total + 1, `it is a JSON array of all ${total + 1} tracks`);

  // Restore from file into a fresh instance, after the confirmation.
  restorePage = await openPage(new URL(second).origin, { width: 390, height: 844 });
  await restorePage.goto(`${second}/ui/`, { waitUntil: 'load' });
  await restorePage.locator('#login').waitFor();
  await logIn(restorePage);
  const confirmed = await confirming(async () => {
    await restorePage.locator('#restore').setInputFiles(backupPath);
    await restorePage.waitForFunction(() => document.getElementById('restore-status').textContent !== '');
  });
  check(confirmed.length === 1 && confirmed[0].includes('Replace the whole catalogue'), `Restore asks first (${confirmed})`);
  const said = await restorePage.locator('#restore-status').textContent();
  check(said === `Restored ${items.length} tracks from ui-backup.json.`, `it says "${said}"`);
  const restored = await fetchIn(restorePage, '/tracks/export');
  check(restored.text === backup, 'the fresh instance exports the same bytes');
  await restorePage.waitForFunction((n) => document.getElementById('range').textContent === `1–10 of ${n}`, items.length);
  check(true, 'the fresh instance lists the restored tracks');

  // Log out: the login form is back and the session is gone.
  await page.locator('#logout').click();
  await page.locator('#login').waitFor();
  check(await page.locator('#who').isHidden(), 'logged out: the login form is back');
  check((await fetchIn(page, '/users/me')).status === 401, 'the session is ended');

  check(pageErrors.length === 0, `no script error on the page (${pageErrors})`);
  check(elsewhere.length === 0, `no request to another origin (${elsewhere.length} aborted or refused: ${elsewhere})`);
  console.log('browser checks passed');
} catch (e) {
  await page.screenshot({ path: join(artifacts, 'ui-failure.png'), fullPage: true }).catch(() => {});
  console.error(e.message);
  console.error(`dialogs: ${dialogs}; page errors: ${pageErrors}; other origins: ${elsewhere}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
