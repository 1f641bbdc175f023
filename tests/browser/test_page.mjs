// test_page.mjs -- the page in a real browser: a live number that changes, the same number
// in two tabs, and no console errors (the Content-Security-Policy included).
import assert from 'node:assert/strict';
import { launchBrowser, runTest, shownNumber, startSystem, stopProgram, sleep, waitFor, watchErrors } from './lib.mjs';

runTest('page shows a live number, the same in two tabs, with no console errors', async (defer) => {
  const system = await startSystem({ intervalMs: 1000 });
  defer(async (failed) => {
    for (const p of system.programs) {
      const { code, signal } = await stopProgram(p);
      if (failed || code !== 0) console.log(`---- ${p.spawnfile} exit=${code ?? signal} ----\n${p.output.slice(-3000)}`);
    }
  });
  const browser = await launchBrowser();
  defer(() => browser.close());
  const context = await browser.newContext();
  const errors = [];
  const pages = [await context.newPage(), await context.newPage()];
  for (const page of pages) {
    watchErrors(page, errors);
    const response = await page.goto(system.url);
    assert.equal(response.status(), 200);
  }
  const first = pages[0];
  assert.match(await first.textContent('.card-header'), /Featured Random Number/);
  assert.match(await first.textContent('.card-title'), /The Random Number is\.\./);

  // Within five seconds the number's event id changes at least twice.
  const ids = new Set();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && ids.size < 3) {
    const shown = await shownNumber(first);
    if (shown?.id) ids.add(shown.id);
    await sleep(100);
  }
  assert.ok(ids.size >= 3, `the number changed at least twice in 5 s: saw ${[...ids]}`);
  for (const id of ids) assert.match(id, /^\d+-\d+$/);
  const value = Number((await shownNumber(first)).value);
  assert.ok(value >= 1 && value <= 100, `value in range: ${value}`);

  // Both tabs converge on the same event (they update within a moment of each other).
  await waitFor(async () => {
    const [a, b] = await Promise.all(pages.map(shownNumber));
    return a?.id && a.id === b?.id && a.value === b.value;
  }, 5000, 'both tabs showing the same number');

  assert.deepEqual(errors, [], 'no console errors or failed requests');
});
