// test_failover.mjs -- a page behind HAProxy with two gateways: kill the gateway its stream
// is on, and htmx's hx-sse reconnects through HAProxy to the other with Last-Event-ID;
// the ids of the number events the page received have no gap and no duplicate.
import assert from 'node:assert/strict';
import { launchBrowser, runTest, sseClients, startFleet, waitFor } from './lib.mjs';

runTest('killing the gateway a page streams from loses no event', async (defer) => {
  const { gateways, lb } = await startFleet(defer, { count: 2, intervalMs: 200 });

  const browser = await launchBrowser();
  defer(() => browser.close());
  const page = await browser.newPage();
  await page.goto(lb);
  // Record every event the hx-sse extension dispatches on the stream element.
  await page.evaluate(() => {
    window.rnEvents = [];
    const stream = document.getElementById('stream');
    for (const name of ['number', 'reset']) {
      stream.addEventListener(name, (e) => window.rnEvents.push({ name, id: e.detail?.id, data: e.detail?.data }));
    }
  });
  const received = () => page.evaluate(() => window.rnEvents.slice());
  await waitFor(async () => (await received()).length >= 5, 10000, 'five events before the kill');

  const counts = await Promise.all(gateways.map((g) => sseClients(g.url)));
  const victim = gateways[counts.indexOf(1)];
  assert.ok(victim, `the page's stream is on one gateway: ${counts}`);
  const before = (await received()).length;
  victim.proc.kill('SIGKILL');

  await waitFor(async () => (await received()).length >= before + 15, 20000, 'events after the kill');
  const survivor = gateways.find((g) => g !== victim);
  assert.equal(await sseClients(survivor.url), 1, 'the page reconnected to the other gateway');

  const events = await received();
  assert.deepEqual(events.filter((e) => e.name !== 'number'), [], 'no reset: nothing was lost');
  const ids = events.map((e) => e.id.split('-').map(Number));
  for (let i = 1; i < ids.length; i++) {
    assert.equal(ids[i][0], ids[0][0], 'one epoch');
    assert.equal(ids[i][1], ids[i - 1][1] + 1, `no gap or duplicate at ${i}: ${events.map((e) => e.id)}`);
  }
  console.log(`# ${ids.length} consecutive events across the failover (${before} before the kill)`);
});
