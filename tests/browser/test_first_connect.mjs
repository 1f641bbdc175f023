// test_first_connect.mjs -- the tab that holds the browser's stream retries a first
// connect that failed: the gateway is at its client limit when the page opens (503), and
// once a slot frees the page goes live, with no error body swapped into the card.
import assert from 'node:assert/strict';
import { launchBrowser, runTest, shownNumber, sseClients, startSystem, stopProgram, waitFor } from './lib.mjs';

runTest('a first connect refused with 503 is retried until the page is live', async (defer) => {
  const system = await startSystem({ intervalMs: 200, gatewayArgs: ['--max-clients', '1'] });
  defer(async (failed) => {
    for (const p of system.programs) {
      const { code, signal } = await stopProgram(p);
      if (failed || code !== 0) console.log(`---- ${p.spawnfile} exit=${code ?? signal} ----\n${p.output.slice(-3000)}`);
    }
  });
  // Another client takes the only slot.
  const other = new AbortController();
  const taken = await fetch(`${system.url}/events`, { signal: other.signal });
  assert.equal(taken.status, 200);
  const reader = taken.body.getReader();
  defer(() => other.abort());

  const browser = await launchBrowser();
  defer(() => browser.close());
  const page = await browser.newPage();
  await page.goto(system.url);
  const before = await shownNumber(page);
  await new Promise((r) => setTimeout(r, 1500)); // its first connect has been refused by now
  assert.equal(await sseClients(system.url), 1, 'the page could not connect yet');
  assert.match(await page.textContent('#number'), /^\s*\d+\s*$/, 'no error text in the card');

  other.abort();
  await reader.cancel().catch(() => {});
  await waitFor(async () => (await sseClients(system.url)) === 1 &&
    (await shownNumber(page))?.id !== before?.id, 15000, 'the page connected and live');
  const ids = new Set();
  await waitFor(async () => { ids.add((await shownNumber(page))?.id); return ids.size >= 3; },
    5000, 'the number changing');
});
