// The settings page in a real browser: Debian's chromium, headless, driven by
// playwright-core.  Run by tests/integration/test_settings_browser.py, which
// starts the fakes and nginx with Basic auth and passes everything through the
// environment:
//
//   KC_SETTINGS_URL   http://127.0.0.1:PORT/keycrm/settings
//   KC_USER, KC_PASSWORD    the Basic auth credentials
//   KC_KEYCRM_KEY     a key the fake KeyCRM accepts
//   KC_SHOP_CONTROL   the fake shop's control URL (to sell something)
//   KC_SOLD_ID, KC_SOLD_SKU  the product to sell, and its SKU
//   KC_XSS_SKUS       JSON list of hostile SKUs already sent by a webhook
//   KC_ARTIFACTS      where the screenshots go
//   KC_CHROMIUM       the browser (default /usr/bin/chromium)
//
// Prints one line per step; exits 1 with the reason on the first failure.

'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const URL_ = env('KC_SETTINGS_URL');
const ARTIFACTS = env('KC_ARTIFACTS');
const XSS_SKUS = JSON.parse(env('KC_XSS_SKUS'));

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok    ${what}`);
}

// Everything the page must never cause: script errors, CSP reports, failed loads.
function watch(page, problems) {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('dialog', (d) => { problems.push(`dialog opened: ${d.message()}`); d.dismiss(); });
}

async function newPage(context, width, height, problems) {
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  watch(page, problems);
  return page;
}

async function noHorizontalScroll(page, width, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w <= width, `${what}: no horizontal scroll at ${width} px (page is ${w} px wide)`);
}

async function submitAndWait(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

async function resultText(page) {
  return (await page.locator('#result').first().innerText()).trim();
}

// Long work runs in the background: the card refreshes itself (page.js)
// until the work is done; returns the result's text, after a reload so the
// rest of the page shows what the work changed.
async function jobResult(page) {
  await page.locator('#job[data-state="done"]').waitFor({ timeout: 120000 });
  const text = (await page.locator('#job').innerText()).trim();
  await page.reload({ waitUntil: 'load' });
  return text;
}

async function shopControl(what, body) {
  const r = await fetch(`${env('KC_SHOP_CONTROL')}/_control/${what}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  check(r.ok, `the fake shop takes ${what} ${JSON.stringify(body)}`);
}

async function shopGet(what) {
  const r = await fetch(`${env('KC_SHOP_CONTROL')}/_control/${what}`);
  check(r.ok, `the fake shop answers ${what}`);
  return r.json();
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kc-chromium-'));
  // A fresh profile, given to the browser as its --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.KC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    httpCredentials: { username: env('KC_USER'), password: env('KC_PASSWORD') },
    javaScriptEnabled: true,     // on, so that an injected script would run and be caught
  });
  const problems = [];
  try {
    // Desktop: a first install, nothing checked, no key yet.
    const page = await newPage(context, 1280, 900, problems);
    const resp = await page.goto(URL_, { waitUntil: 'load' });
    check(resp.status() === 200, 'the page loads with Basic auth (200)');
    check((await page.title()).includes('Settings'), 'the title says Settings');
    for (const h of ['Status', 'Connection', 'Setup', 'Settings', 'Problems', 'History']) {
      check(await page.locator('h2', { hasText: new RegExp(`^${h}$`) }).count() === 1, `section "${h}" is there`);
    }
    check(await page.locator('#first').count() === 0, 'no first-install choice before KeyCRM has a key');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(bg === 'rgb(240, 240, 241)', `the stylesheet applies under the CSP (body background ${bg})`);

    // Hostile SKUs from the webhook are shown as text, and nothing ran.
    const codes = await page.locator('#problems code').allInnerTexts();
    for (const sku of XSS_SKUS) check(codes.includes(sku), `hostile SKU shown as text: ${sku}`);
    check(await page.locator('#problems img, #problems script').count() === 0,
      'no element was injected by a SKU');
    check(await page.evaluate(() => window.__kc_xss === undefined), 'no injected script ran');

    // Check connections before a key is set.
    await submitAndWait(page, page.locator('button[value="check"]'));
    let text = await resultText(page);
    check(/no API key/i.test(text), `check without a key says so: "${text.slice(0, 80)}"`);

    // A wrong key is refused and not saved.
    await page.fill('#keycrm_api_key', 'not-the-right-key');
    await page.fill('#keycrm_warehouse_id', '1');
    await submitAndWait(page, page.locator('#settings button[type="submit"]'));
    text = await resultText(page);
    check(/Nothing was saved.*rejected/.test(text), `a rejected key is not saved: "${text.slice(0, 90)}"`);

    // The right key is checked and saved.
    await page.fill('#keycrm_api_key', env('KC_KEYCRM_KEY'));
    await page.fill('#keycrm_warehouse_id', '1');
    await page.selectOption('#subtract_reserve', 'yes');
    await submitAndWait(page, page.locator('#settings button[type="submit"]'));
    text = await resultText(page);
    check(/Settings saved/.test(text), `the key form saves: "${text.slice(0, 80)}"`);
    check(await page.inputValue('#keycrm_api_key') === '', 'the key is not echoed back into the form');
    check((await page.locator('label[for="keycrm_api_key"] .src').innerText()).includes('saved from this page'),
      'the key shows as saved from this page');
    check(await page.locator('#first').count() === 1, 'a first install offers push all or backfill');
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-first-install.png'), fullPage: true });

    // First sync records the baseline, in the background: the page answers at
    // once and shows the work's progress (a slow shop makes it last a while).
    await shopControl('faults', { latency_ms: 1500 });
    await submitAndWait(page, page.locator('#status button[value="sync"]'));
    text = await resultText(page);
    check(/Sync now started in the background/.test(text), `sync now starts at once: "${text.slice(0, 100)}"`);
    check(await page.locator('#job[data-state="running"]').count() === 1, 'the job card says running');
    const running = await page.locator('#job').innerText();
    check(/Running since \d\d:\d\d/.test(running), `it says since when: "${running.slice(0, 120).replace(/\n/g, ' ')}"`);
    check(/requests a minute/.test(running), 'it says what it waits for');
    check(await page.locator('script').count() === 1, 'page.js is on the page while it runs');
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-sync-running.png'), fullPage: true });
    await page.locator('#job progress, #job[data-state="done"]').first().waitFor({ timeout: 60000 });
    await shopControl('faults', {});
    text = await jobResult(page);
    check(/Sync run done/.test(text), `sync now's result replaces the progress: "${text.slice(0, 140).replace(/\n/g, ' ')}"`);
    check(await page.locator('script').count() === 0, 'no script once nothing runs');
    const sale = await fetch(`${env('KC_SHOP_CONTROL')}/_control/sale`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: Number(env('KC_SOLD_ID')), quantity: 2 }),
    });
    check(sale.ok, 'a sale in the shop');
    await submitAndWait(page, page.locator('#status button[value="dry_run"]'));
    text = await resultText(page);
    check(/Dry run done/.test(text), `the dry run runs: "${text.slice(0, 100)}"`);
    const headers = await page.locator('#plan thead th').allInnerTexts();
    check(['SKU|In the shop|To send to KeyCRM', 'SKU|In the shop|KeyCRM now \u2192 will be'].includes(headers.join('|')),
      `the plan's columns: ${headers.join(', ')}`);
    const rows = await page.locator('#plan tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.innerText.trim())));
    console.log(`      plan: ${JSON.stringify(rows)}`);
    const sold = rows.find((r) => r[0] === env('KC_SOLD_SKU'));
    check(sold !== undefined, `the plan lists the sold SKU ${env('KC_SOLD_SKU')}`);
    check(/^\d+$/.test(sold[1]) && /\d+(\.\d+)?$/.test(sold[2]), `shop value ${sold[1]}, value to send ${sold[2]}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-dry-run.png'), fullPage: true });
    await noHorizontalScroll(page, 1280, 'desktop');

    // The first-install card outlived the sync run; compare shows how the sides differ.
    check(await page.locator('#first').count() === 1, 'the first-install card stays after a sync run');
    await submitAndWait(page, page.locator('#first button[value="compare"]'));
    text = await jobResult(page);
    check(/Compared in .* \d+ equal, [1-9]\d* different/.test(text), `compare runs: "${text.slice(0, 160).replace(/\n/g, ' ')}"`);
    const counts = await page.locator('#compare-counts').innerText();
    check(/only in KeyCRM/.test(counts), `the card shows the four counts: "${counts}"`);
    const diffs = await page.locator('#compare tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.innerText.trim())));
    console.log(`      biggest differences: ${JSON.stringify(diffs)}`);
    const diff = diffs.find((r) => r[0] === env('KC_SOLD_SKU'));
    check(diff !== undefined && diff[3] === '-2', `the sold SKU differs by -2 (${JSON.stringify(diff)})`);
    const csvHref = await page.locator('#first a[href$="download=compare.csv"]').getAttribute('href');
    const csv = await context.request.get(new URL(csvHref, URL_).toString());
    check(csv.status() === 200 && csv.headers()['content-type'].startsWith('text/csv'),
      `the CSV downloads (${csv.status()} ${csv.headers()['content-type']})`);
    check((await csv.text()).includes(`${env('KC_SOLD_SKU')},different,`), 'the CSV has the sold SKU');
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-compare.png'), fullPage: true });

    // The card on a phone, 390 px wide, before the choice.
    const cardPhone = await newPage(context, 390, 844, problems);
    await cardPhone.goto(URL_, { waitUntil: 'load' });
    await noHorizontalScroll(cardPhone, 390, 'phone with the first-install card');
    await cardPhone.locator('#first').screenshot({ path: path.join(ARTIFACTS, 'settings-phone-first-install.png') });
    await cardPhone.close();

    // KeyCRM is right: backfill. The shop takes KeyCRM's numbers and the card goes.
    await submitAndWait(page, page.locator('#first button[value="backfill"]'));
    text = await jobResult(page);
    check(/Backfill from KeyCRM done/.test(text), `the backfill is the choice: "${text.slice(0, 140).replace(/\n/g, ' ')}"`);
    check(await page.locator('#first').count() === 0, 'the card is gone once the choice is made');
    check(await page.locator('#push-all').count() === 1, 'push all stays available, behind a confirmation');
    check(await page.locator('#push-all input[name="confirm"][required]').count() === 1,
      'push all asks for a confirmation');
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-chosen.png'), fullPage: true });

    // History: the 7-day chart, drawn on the server, sized to its card.
    const chart = await page.locator('#history svg#chart').boundingBox();
    check(chart !== null && chart.width > 600 && chart.height > 100 && chart.height < 300,
      `the chart is there and sized (${chart && Math.round(chart.width)} x ${chart && Math.round(chart.height)})`);
    check(await page.locator('#history svg#chart rect.bar').count() >= 1, 'the chart has bars');
    // Paged: the webhooks sent before make more than one page.
    check(await page.locator('#history-table tbody tr').count() === 30, 'history shows 30 rows a page');
    await submitAndWait(page, page.locator('#history nav.pager a[rel="next"]'));
    check(/hpage=2/.test(page.url()), `the next page of history (${page.url().replace(/^.*\?/, '?')})`);
    check(await page.locator('#history nav.pager').innerText().then((t) => /Page 2 of \d+/.test(t)),
      'it says which page');
    // Filtered: sync runs only.
    await submitAndWait(page, page.locator('#history nav.filters a', { hasText: 'Sync runs' }));
    const whats = await page.locator('#history-table td[data-label="What"]').allInnerTexts();
    check(whats.length >= 1 && whats.every((w) => w === 'Sync run' || w === 'Backfill'),
      `the filter shows sync runs only (${[...new Set(whats)].join(', ')})`);
    check(await page.locator('#history nav.filters strong[aria-current="page"]').innerText() === 'Sync runs',
      'the chosen filter is marked');
    await page.locator('#history').screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-history.png') });
    await page.close();

    // Phone: 390 px wide, the same page, legible and without sideways scrolling.
    const phone = { page: await newPage(context, 390, 844, problems) };
    await phone.page.goto(URL_, { waitUntil: 'load' });
    await noHorizontalScroll(phone.page, 390, 'phone');
    const phoneChart = await phone.page.locator('#history svg#chart').boundingBox();
    check(phoneChart !== null && phoneChart.width <= 390 && phoneChart.width > 250,
      `the chart fits the phone (${phoneChart && Math.round(phoneChart.width)} px wide)`);
    await phone.page.screenshot({ path: path.join(ARTIFACTS, 'settings-phone.png'), fullPage: true });
    // The backfill made the two sides equal: another sale gives the plan a row.
    const sale2 = await fetch(`${env('KC_SHOP_CONTROL')}/_control/sale`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: Number(env('KC_SOLD_ID')), quantity: 1 }),
    });
    check(sale2.ok, 'another sale in the shop');
    await submitAndWait(phone.page, phone.page.locator('#status button[value="dry_run"]'));
    check(await phone.page.locator('#plan tbody tr').count() >= 1, 'the plan shows on the phone');
    await noHorizontalScroll(phone.page, 390, 'phone with the plan');
    await phone.page.screenshot({ path: path.join(ARTIFACTS, 'settings-phone-dry-run.png'), fullPage: true });
    const fontPx = await phone.page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
    check(fontPx >= 14, `text is legible on the phone (${fontPx} px)`);
    await phone.page.close();

    // The shop's own webhook: connected with one click, shown active, removed with one.
    const hooks = await newPage(context, 1280, 900, problems);
    await hooks.goto(URL_, { waitUntil: 'load' });
    check(/Not connected/.test(await hooks.locator('#shop-webhooks').innerText()),
      'the shop webhook starts not connected');
    await submitAndWait(hooks, hooks.locator('#shop-webhooks button[value="shop_connect"]'));
    text = await resultText(hooks);
    check(/WooCommerce created webhook \d+/.test(text), `connect creates the webhook: "${text.slice(0, 100)}"`);
    check(await hooks.locator('#shop-webhooks [data-hook-status="active"]').count() === 1,
      'the page shows the webhook active, as the shop reports it');
    let listed = await shopGet('webhooks');
    check(listed.length === 1 && listed[0].delivery_url === env('KC_SHOP_HOOK_URL') &&
      listed[0].topic === 'product.updated', `the shop holds it, delivering to us (${JSON.stringify(listed.map((h) => h.delivery_url))})`);
    const pings = await shopGet('webhooks/deliveries?kind=ping');
    check(pings.length === 1 && pings[0].status === 200, 'the shop\'s ping was answered 200');
    check(!(await hooks.content()).includes(listed[0].secret), 'the secret is not on the page');
    await hooks.locator('#shop-webhooks').screenshot({ path: path.join(ARTIFACTS, 'settings-desktop-shop-webhooks.png') });
    await submitAndWait(hooks, hooks.locator('#shop-webhooks button[value="shop_remove"]'));
    text = await resultText(hooks);
    check(/Removed 1 webhook/.test(text), `remove deletes it: "${text.slice(0, 100)}"`);
    listed = await shopGet('webhooks');
    check(listed.length === 0, 'the shop no longer has it');
    check(/Not connected/.test(await hooks.locator('#shop-webhooks').innerText()), 'the page says not connected');
    await hooks.close();

    // Ukrainian, as a browser that prefers it asks (Accept-Language), on a phone:
    // the longer sentences must still fit.
    const uk = await newPage(context, 390, 844, problems);
    await uk.setExtraHTTPHeaders({ 'Accept-Language': 'uk-UA,uk;q=0.9,en;q=0.5' });
    await uk.goto(URL_, { waitUntil: 'load' });
    check(await uk.evaluate(() => document.documentElement.lang) === 'uk', 'the page speaks Ukrainian (lang="uk")');
    check(await uk.locator('button', { hasText: 'Синхронізувати зараз' }).count() >= 1, 'its buttons are Ukrainian ("Синхронізувати зараз")');
    await noHorizontalScroll(uk, 390, 'phone in Ukrainian');
    await uk.screenshot({ path: path.join(ARTIFACTS, 'settings-phone-uk.png'), fullPage: true });
    await uk.close();

    check(problems.length === 0, `no console errors, CSP reports or failed loads${problems.length ? ': ' + problems.join('; ') : ''}`);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log('browser: all checks passed');
}, (e) => {
  console.error(`FAIL  ${e.stack || e}`);
  process.exit(1);
});
