#!/usr/bin/env node
/*
 * The dashboard in a real browser: Debian's headless Chromium driven by
 * playwright-core, against a test nginx that t/025-browser.t started.
 *
 *   node t/browser/dashboard.js <base url> <manager base url> <out dir>
 *                               <admin token>
 *
 * Prints one JSON object a line, {"check":..,"ok":..,"diag":..}, which
 * the .t file turns into TAP; the last line is {"done":true}.  Screenshots
 * go to <out dir>.  <manager base url> is a second server whose
 * scale_client_manager location proxies to a fake swarm.
 */
'use strict';

const path = require('path');
const fs = require('fs');
const { chromium } = require('playwright-core');

const [base, mgrBase, outDir, token] = process.argv.slice(2);

function report(check, ok, diag) {
  const line = { check: check, ok: !!ok };
  if (!ok && diag !== undefined) {
    line.diag = String(diag);
  }
  process.stdout.write(JSON.stringify(line) + '\n');
  return !!ok;
}

async function post(url, body, json) {
  const res = await fetch(url, {
    method: 'POST',
    headers: json ? { 'Content-Type': 'application/json' } : {},
    body: body
  });
  return { status: res.status, body: await res.text() };
}

/* the number a card shows, "1,234" -> 1234 */
async function cardNumber(page, id) {
  const t = await page.textContent('#' + id);
  return Number(String(t).replace(/,/g, ''));
}

async function run() {
  const profile = path.join(outDir, 'chromium-profile');
  fs.rmSync(profile, { recursive: true, force: true });
  fs.mkdirSync(profile, { recursive: true });

  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-quic']
  });

  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  let phase = 'load';

  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      errors.push({ phase: phase, text: msg.type() + ': ' + msg.text() });
    }
  });
  page.on('pageerror', (err) => {
    errors.push({ phase: phase, text: 'page error: ' + err.message,
                  fatal: true });
  });
  page.on('requestfailed', (req) => {
    const why = req.failure() ? req.failure().errorText : '?';
    /* a poll still under way when the test leaves the page is aborted:
     * that is the test's doing, not the page's */
    if (phase === 'leaving' && why === 'net::ERR_ABORTED') {
      return;
    }
    errors.push({ phase: phase, text: 'request failed: ' + req.url() +
                  ' ' + why, fatal: true });
  });
  page.on('request', (req) => {
    if (!req.url().startsWith(base) && !req.url().startsWith(mgrBase) &&
        !req.url().startsWith('data:')) {
      errors.push({ phase: phase, text: 'request elsewhere: ' + req.url(),
                    fatal: true });
    }
  });

  try {
    /* --- it loads and goes live --- */
    const res = await page.goto(base + '/status-page');
    report('page answers 200', res && res.status() === 200,
           res && res.status());
    await page.waitForFunction(
        () => document.getElementById('live').textContent === 'live',
        null, { timeout: 10000 });
    report('page polls /status and goes live', true);

    const before = await cardNumber(page, 'clients-total');
    report('client count shown', Number.isFinite(before), before);

    /* --- registrations raise the client count --- */
    const names = [];
    for (let i = 1; i <= 24; i++) {
      names.push('peer-' + i);
    }
    /* in three batches a second apart, so that the charts have a few
     * points to draw */
    for (let i = 0; i < names.length; i++) {
      await post(base + '/connect', names[i], false);
      if (i % 8 === 7) {
        await new Promise((done) => setTimeout(done, 1100));
      }
    }
    await post(base + '/connect',
               JSON.stringify({ id: 'json-client', name: '[::1]:8080',
                                addr: '127.0.0.1:9' }), true);
    const want = before + names.length + 1;
    let after;
    try {
      await page.waitForFunction((n) => Number(document.getElementById(
          'clients-total').textContent.replace(/,/g, '')) === n, want,
          { timeout: 10000 });
      after = await cardNumber(page, 'clients-total');
    } catch (e) {
      after = await cardNumber(page, 'clients-total');
    }
    report('client count rises after registrations', after === want,
           'showed ' + after + ', wanted ' + want);

    const rate = await page.textContent('#rate-registrations');
    report('registrations/s is a number', /^\d/.test(rate), rate);

    const workers = await page.$$eval('#workers tbody tr', (r) => r.length);
    report('per-worker table has a row per worker', workers === 2, workers);

    /* --- the clients table: server-side search, text not markup --- */
    await page.fill('#search', 'PEER-1');
    await page.click('#search-form button[type="submit"]');
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('#clients tbody tr');
      return rows.length > 0 && [...rows].every((r) =>
          r.cells[0].textContent.startsWith('peer-1'));
    }, null, { timeout: 5000 });
    const found = await page.$$eval('#clients tbody tr',
        (rows) => rows.map((r) => r.cells[0].textContent).sort());
    report('search lists peer-1 and peer-10..19, case-insensitive',
           found.length === 11, JSON.stringify(found));
    const info = await page.textContent('#page-info');
    report('the page says how far the search scanned',
           /searched \d+ entries/.test(info), info);

    await page.fill('#search', '[::1]');
    await page.click('#search-form button[type="submit"]');
    await page.waitForFunction(() => {
      const c = document.querySelector('#clients tbody tr td');
      return c && c.textContent === 'json-client';
    }, null, { timeout: 5000 });
    const cells = await page.$$eval('#clients tbody tr:first-child td',
        (tds) => tds.map((td) => ({ text: td.textContent,
                                    kids: td.children.length })));
    report('names are shown as text',
           cells[1].text === '[::1]:8080' && cells[2].text === '127.0.0.1:9'
           && cells.every((c) => c.kids === 0), JSON.stringify(cells));

    /* --- the subset-size form changes what /connect returns --- */
    await page.fill('#cfg-token', token);
    await page.fill('#cfg-subset_size', '2');
    await page.click('#cfg-apply');
    await page.waitForSelector('#cfg-msg.done', { timeout: 5000 });
    report('the form says the change was applied', true);
    let r = await post(base + '/connect', 'peer-1', false);
    let list = JSON.parse(r.body);
    report('/connect now returns 2 peers', r.status === 200 &&
           list.length === 2, r.status + ' ' + r.body);
    const over = await page.textContent('#cfg-overridden');
    report('the form lists what differs from nginx.conf',
           /subset_size/.test(over), over);

    await page.screenshot({ path: path.join(outDir, 'dashboard.png'),
                            fullPage: true });

    /* --- a bad value shows the error and changes nothing --- */
    phase = 'bad-value';
    await page.fill('#cfg-subset_size', '0');
    await page.click('#cfg-apply');
    await page.waitForSelector('#cfg-msg.error', { timeout: 5000 });
    let msg = await page.textContent('#cfg-msg');
    report('a bad value shows the server\'s error naming the field',
           /400/.test(msg) && /subset_size/.test(msg), msg);
    const invalid = await page.getAttribute('#cfg-subset_size',
                                            'aria-invalid');
    report('the field is marked invalid', invalid === 'true', invalid);
    await page.locator('section[aria-label="Configuration"]').screenshot(
        { path: path.join(outDir, 'dashboard-error.png') });
    r = await post(base + '/connect', 'peer-2', false);
    list = JSON.parse(r.body);
    report('/connect still returns 2 peers', list.length === 2, r.body);

    await page.fill('#cfg-subset_size', 'lots');
    await page.click('#cfg-apply');
    await page.waitForFunction(() => /must be an integer/.test(
        document.getElementById('cfg-msg').textContent), null,
        { timeout: 5000 });
    report('a value that is no number is refused by name', true);

    await page.fill('#cfg-token', 'wrong-token-0123456789');
    await page.fill('#cfg-subset_size', '3');
    await page.click('#cfg-apply');
    await page.waitForFunction(() => /403.*invalid admin token/.test(
        document.getElementById('cfg-msg').textContent), null,
        { timeout: 5000 });
    report('a wrong token shows 403', true);

    /* --- client manager: not configured here --- */
    const off = await page.isVisible('#mgr-off');
    const on = await page.isVisible('#mgr-on');
    report('without scale_client_manager the panel says so', off && !on,
           'off ' + off + ', on ' + on);

    /* --- client manager: configured, every per-client result shown --- */
    phase = 'leaving';
    await page.goto(mgrBase + '/status-page');
    phase = 'manager';
    await page.waitForSelector('#mgr-on', { state: 'visible',
                                            timeout: 5000 });
    report('with scale_client_manager the panel is live', true);
    await page.fill('#cfg-token', token);
    await page.fill('#mgr-bulk-count', '3');
    await page.click('#mgr-bulk button[type="submit"]');
    await page.waitForSelector('#mgr-msg.error', { timeout: 5000 });
    const items = await page.$$eval('#mgr-results li',
        (lis) => lis.map((li) => li.textContent + '|' + li.className));
    msg = await page.textContent('#mgr-msg');
    report('bulk create lists every client, failures included',
           items.length === 3 && items[0] === 'p-1: ok|' &&
           items[2] === 'p-3: port in use|error' &&
           /1 of 3 failed/.test(msg), JSON.stringify(items) + ' ' + msg);
    await page.locator('section[aria-label="Client manager"]').screenshot(
        { path: path.join(outDir, 'manager.png') });

    await page.fill('#cfg-token', '');
    await page.fill('#mgr-add-name', 'p-9');
    await page.click('#mgr-add button[type="submit"]');
    await page.waitForFunction(() => /401/.test(
        document.getElementById('mgr-msg').textContent), null,
        { timeout: 5000 });
    report('the manager without a token shows 401', true);

    /* --- no console error, no failed or foreign request --- */
    const unexpected = errors.filter((e) => e.fatal || e.phase === 'load' ||
        !/Failed to load resource: the server responded with a status of 4/
            .test(e.text));
    report('no console error, failed or foreign request',
           unexpected.length === 0,
           JSON.stringify(unexpected.map((e) => e.phase + ': ' + e.text)));
  } catch (e) {
    report('the browser run finished', false, e.stack || e);
    try {
      await page.screenshot({ path: path.join(outDir, 'failure.png'),
                              fullPage: true });
    } catch (e2) {
      /* the failure above is what matters */
    }
  } finally {
    await context.close();
  }
}

run().then(() => {
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
}, (e) => {
  report('the browser started', false, e.stack || e);
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
});
