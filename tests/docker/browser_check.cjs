// browser_check.cjs URL -- loads the page in Debian's Chromium (playwright-core) and waits
// until the live number has changed twice; prints one JSON line, exits 0 on success.
// playwright-core is taken from $RN_PLAYWRIGHT_CORE (a module directory) if set.
'use strict';
const { chromium } = require(process.env.RN_PLAYWRIGHT_CORE || 'playwright-core');

const SELECTOR = '#number .number';

async function main() {
  const url = process.argv[2];
  const result = { url, status: null, seen: [], errors: [] };
  const browser = await chromium.launch({
    executablePath: process.env.RN_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000,
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') result.errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
    const response = await page.goto(url, { waitUntil: 'load', timeout: 20000 });
    result.status = response.status();
    await page.waitForSelector(`${SELECTOR}[data-event-id]`, { timeout: 15000 });
    const read = () => page.$eval(SELECTOR, (el) => ({ id: el.dataset.eventId, value: el.textContent.trim() }));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && result.seen.length < 3) {
      const shown = await read();
      const last = result.seen[result.seen.length - 1];
      if (!last || last.id !== shown.id) result.seen.push(shown);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await browser.close();
  }
  const seqs = result.seen.map((s) => Number(s.id.split('-')[1]));
  result.ok = result.status === 200 && result.seen.length >= 3 && result.errors.length === 0 &&
    result.seen.every((s) => /^\d+-\d+$/.test(s.id) && Number(s.value) >= 1 && Number(s.value) <= 100) &&
    seqs.every((s, i) => i === 0 || s > seqs[i - 1]);
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, errors: [String(err && err.stack || err)] }));
  process.exit(1);
});
