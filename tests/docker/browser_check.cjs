// browser_check.cjs URL [--watch] [--insecure] -- the page in Debian's Chromium
// (playwright-core).
//
// Default: loads the page and waits until the live number has changed twice.
// --insecure: accepts any certificate (a test's self-signed one for HTTPS).
// --watch: loads the page, prints "ready" once the number changed, then keeps recording the
//   number until a line arrives on stdin (or 180 s pass), so that the caller can restart
//   gateways meanwhile; the number must keep changing (no gap over 10 s) with no error.
// Prints one JSON line last, with the protocol the page was loaded over ("http/1.1", "h2");
// exits 0 on success. playwright-core is taken from
// $RN_PLAYWRIGHT_CORE (a module directory) if set.
'use strict';
const { chromium } = require(process.env.RN_PLAYWRIGHT_CORE || 'playwright-core');

const SELECTOR = '#number .number';
const MAX_GAP_MS = 10000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stdinLine() {
  return new Promise((resolve) => {
    process.stdin.on('data', () => resolve());
    process.stdin.on('end', () => resolve());
  });
}

// Chromium aborts a navigation with ERR_NETWORK_CHANGED when the host's network interfaces
// change, and Docker adds or removes one for every container it starts or stops, as the
// tests do around this check. A user would reload; so does this, at most three times.
async function gotoSettled(page, url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await page.goto(url, { waitUntil: 'load', timeout: 20000 });
    } catch (e) {
      if (attempt >= 3 || !String(e).includes('ERR_NETWORK_CHANGED')) throw e;
      await sleep(1000);
    }
  }
}

async function main() {
  const url = process.argv[2];
  const watch = process.argv.includes('--watch');
  const insecure = process.argv.includes('--insecure');
  const result = { url, status: null, protocol: null, seen: [], errors: [] };
  const browser = await chromium.launch({
    executablePath: process.env.RN_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000,
  });
  const t0 = Date.now();
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: insecure });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') result.errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      const why = r.failure()?.errorText ?? '';
      // The page's own SSE fetch aborted at browser.close() is not an error of the page, nor
      // is a request Chromium drops because the host's interfaces changed (see gotoSettled).
      if (why.includes('ERR_NETWORK_CHANGED')) result.networkChanged = (result.networkChanged ?? 0) + 1;
      else if (!why.includes('ERR_ABORTED')) result.errors.push(`request failed: ${r.url()} ${why}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) result.errors.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    const response = await gotoSettled(page, url);
    result.status = response.status();
    result.protocol = await page.evaluate(
      () => performance.getEntriesByType('navigation')[0]?.nextHopProtocol ?? null);
    await page.waitForSelector(`${SELECTOR}[data-event-id]`, { timeout: 15000 });
    const read = () => page.$eval(SELECTOR, (el) => ({ id: el.dataset.eventId, value: el.textContent.trim() }));
    const record = async () => {
      const shown = await read();
      const last = result.seen[result.seen.length - 1];
      if (!last || last.id !== shown.id) result.seen.push({ ...shown, ms: Date.now() - t0 });
    };
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && result.seen.length < 3) {
      await record();
      await sleep(100);
    }
    if (watch && result.seen.length >= 3) {
      console.log('ready');
      let done = false;
      stdinLine().then(() => { done = true; });
      const end = Date.now() + 180000;
      while (!done && Date.now() < end) {
        await record();
        await sleep(100);
      }
      // The number goes on after the last restart.
      const doneMs = Date.now() - t0;
      const after = Date.now() + 5000;
      while (Date.now() < after && result.seen[result.seen.length - 1].ms <= doneMs) {
        await record();
        await sleep(100);
      }
      result.updated_after_done = result.seen[result.seen.length - 1].ms > doneMs;
      result.seen.push({ id: result.seen[result.seen.length - 1].id, ms: Date.now() - t0, end: true });
    }
  } finally {
    await browser.close();
  }
  const numbers = result.seen.filter((s) => !s.end);
  const seqs = numbers.map((s) => Number(s.id.split('-')[1]));
  const gaps = result.seen.slice(1).map((s, i) => s.ms - result.seen[i].ms);
  result.max_gap_ms = gaps.length ? Math.max(...gaps) : null;
  result.ok = result.status === 200 && numbers.length >= 3 && result.errors.length === 0 &&
    numbers.every((s) => /^\d+-\d+$/.test(s.id) && Number(s.value) >= 1 && Number(s.value) <= 100) &&
    seqs.every((s, i) => i === 0 || s > seqs[i - 1]) &&
    (!watch || (result.max_gap_ms <= MAX_GAP_MS && result.updated_after_done));
  if (watch) result.seen = `${numbers.length} numbers, ${numbers[0]?.id} .. ${numbers[numbers.length - 1]?.id}`;
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, errors: [String(err && err.stack || err)] }));
  process.exit(1);
});
