// Drives the system Chromium against tracksd's /docs; tests/browser.rs runs it.
//
//   node docs.mjs offline|lan BASE_URL SCREENSHOT USER_DATA_DIR
//
// offline: the Swagger UI assets cannot be reached; the page must still explain
//          what happened and link to /openapi.json, and fetch nothing else.
// lan:     the assets are served from the LAN; Swagger UI must render, and "Try it
//          out" on POST /login then GET /users/me must log in and show the user.
// Prints one line per check; exits non-zero with the reason on the first failure.
import { chromium } from 'playwright-core';

const [mode, base, screenshot, userDataDir] = process.argv.slice(2);
if (!['offline', 'lan'].includes(mode) || !base || !screenshot || !userDataDir) {
  console.error('usage: node docs.mjs offline|lan BASE_URL SCREENSHOT USER_DATA_DIR');
  process.exit(2);
}

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1100, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(20000);
const requested = [];
page.on('request', (r) => requested.push(r.url()));
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));

try {
  await page.goto(`${base}/docs`, { waitUntil: 'load' });
  const favicon = await page.evaluate(async () => {
    const r = await fetch('/favicon.ico');
    return [r.status, r.headers.get('content-type')];
  });
  check(favicon[0] === 200 && favicon[1] === 'image/x-icon', `/favicon.ico is an icon (${favicon})`);

  if (mode === 'offline') {
    const fallback = page.locator('#fallback');
    check(await fallback.isVisible(), 'the fallback text is visible');
    const text = await fallback.innerText();
    check(text.includes('did not load'), 'it says what happened');
    check(text.includes('/tracks') && text.includes('curl -c jar'), 'it shows the curl basics');
    check(text.includes(new URL(base).origin), 'its curl lines name this server');
    const link = page.locator('#fallback a[href="/openapi.json"]');
    check(await link.isVisible(), 'it links to /openapi.json');
    check(await page.evaluate(() => typeof SwaggerUIBundle === 'undefined'), 'Swagger UI did not load');
    const elsewhere = requested.filter((u) => !u.startsWith(base) && !u.includes('/swagger-ui'));
    check(elsewhere.length === 0, `no request beyond the server and the assets (${elsewhere})`);
    await page.screenshot({ path: screenshot, fullPage: true });
  } else {
    await page.locator('.swagger-ui .info .title').waitFor();
    check((await page.locator('.swagger-ui .info .title').innerText()).includes('tracksd'), 'Swagger UI shows the API title');
    check(await page.locator('#fallback').count() === 0, 'the fallback text is gone');

    const login = page.locator('#operations-Login-login_login_post');
    await login.locator('.opblock-summary-control').click();
    await login.locator('.try-out__btn').click();
    await login.locator('input[placeholder="username"]').fill('john');
    await login.locator('input[placeholder="password"]').fill('password');
    await login.locator('.execute').click();
    const loginStatus = login.locator('.live-responses-table tr.response .response-col_status').first();
    await loginStatus.waitFor();
    const loginBody = await login.locator('.live-responses-table tr.response .response-col_description pre').first().innerText();
    check((await loginStatus.innerText()).trim() === '200' && /"success":\s*true/.test(loginBody),
      `POST /login via "Try it out" logs in (${loginBody.replace(/\s+/g, ' ')})`);

    const me = page.locator('#operations-Users-get_current_user_users_me_get');
    await me.locator('.opblock-summary-control').click();
    await me.locator('.try-out__btn').click();
    await me.locator('.execute').click();
    const meStatus = me.locator('.live-responses-table tr.response .response-col_status').first();
    await meStatus.waitFor();
    const meBody = await me.locator('.live-responses-table tr.response .response-col_description pre').first().innerText();
    check((await meStatus.innerText()).trim() === '200' && /"username":\s*"john"/.test(meBody),
      `GET /users/me via "Try it out" sees the session (${meBody.replace(/\s+/g, ' ')})`);
    await me.locator('.live-responses-table').scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshot });
  }
  console.log('browser checks passed');
} catch (e) {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  console.error(e.message);
  process.exitCode = 1;
} finally {
  await context.close();
}
