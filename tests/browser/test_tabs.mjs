// test_tabs.mjs -- any number of tabs stays live on plain HTTP/1.1, where a browser opens
// at most 6 connections to a host: 12 tabs of one browser share one SSE stream
// (shared-stream.js), directly and through HAProxy; closing the tab that holds it hands it
// to another with no gap in the ids; two browsers hold a stream each; and without the
// script every tab still updates on its own stream.
import assert from 'node:assert/strict';
import { launchBrowser, runTest, shownNumber, sleep, sseClients, startFleet, waitFor,
  watchErrors } from './lib.mjs';

const TABS = 12;
const INTERVAL_MS = 1000;
const RETRY_MS = 2000;

// Every tab records the ids of the number events it gets, from its own stream or a peer.
function recordIds() {
  window.rnIds = [];
  document.addEventListener('number', (e) => window.rnIds.push(e.detail?.id));
}

async function openTabs(context, url, count, errors) {
  const pages = [];
  for (let i = 0; i < count; i++) {
    const page = await context.newPage();
    watchErrors(page, errors);
    const response = await page.goto(url);
    assert.equal(response.status(), 200, `tab ${i + 1} loaded`);
    pages.push(page);
  }
  return pages;
}

// Every tab shows at least three different numbers (it is live), then all show the same.
async function assertAllLive(pages, what) {
  const shown = pages.map(() => new Set());
  await waitFor(async () => {
    const now = await Promise.all(pages.map(shownNumber));
    now.forEach((s, i) => s?.id && shown[i].add(s.id));
    return shown.every((ids) => ids.size >= 3);
  }, 8 * INTERVAL_MS, `${what}: every tab's number changing (${shown.map((s) => s.size)})`);
  await waitFor(async () => {
    const now = await Promise.all(pages.map(shownNumber));
    return now.every((s) => s?.id && s.id === now[0].id && s.value === now[0].value);
  }, 5 * INTERVAL_MS, `${what}: all tabs showing the same number`);
}

function assertConsecutive(ids, what) {
  const parsed = ids.map((id) => id.split('-').map(Number));
  for (let i = 1; i < parsed.length; i++) {
    assert.equal(parsed[i][0], parsed[0][0], `${what}: one epoch`);
    assert.equal(parsed[i][1], parsed[i - 1][1] + 1, `${what}: no gap or repeat at ${i}: ${ids}`);
  }
}

const holderOf = async (pages) => {
  const roles = await Promise.all(pages.map((p) => p.evaluate(() => document.getElementById('stream').dataset.sharedStream)));
  assert.equal(roles.filter((r) => r === 'holder').length, 1, `one holder among ${roles}`);
  return pages[roles.indexOf('holder')];
};

const totalClients = async (gateways) => (await Promise.all(gateways.map((g) => sseClients(g.url)))).reduce((a, b) => a + b, 0);

runTest('12 tabs share one stream per browser and stay live; a closed holder hands over with no gap', async (defer) => {
  const { gateways, lb } = await startFleet(defer, { count: 2, intervalMs: INTERVAL_MS,
    gatewayArgs: ['--retry-ms', String(RETRY_MS)] });
  const browser = await launchBrowser();
  defer(() => browser.close());
  const errors = [];
  const direct = gateways[0];

  // 12 tabs on one gateway: one stream.
  const first = await browser.newContext();
  await first.addInitScript(recordIds);
  const tabs = await openTabs(first, direct.url, TABS, errors);
  await assertAllLive(tabs, `${TABS} tabs on a gateway`);
  assert.equal(await sseClients(direct.url), 1, `${TABS} tabs of one browser hold one stream`);

  // Close the holder: another tab takes over and resumes, so the ids have no gap.
  const holder = await holderOf(tabs);
  const others = tabs.filter((p) => p !== holder);
  const seenBefore = await others[0].evaluate(() => window.rnIds.length);
  await holder.close();
  const closedAt = Date.now();
  await waitFor(async () => (await others[0].evaluate(() => window.rnIds.length)) > seenBefore,
    RETRY_MS + 1000 + INTERVAL_MS, 'an event in the other tabs after the holder closed');
  console.log(`# the next event reached the other tabs ${Date.now() - closedAt} ms after the holder closed`);
  await assertAllLive(others, 'the tabs after the holder closed');
  await holderOf(others);
  assert.equal(await sseClients(direct.url), 1, 'still one stream after the handover');
  for (const [i, page] of others.entries()) {
    assertConsecutive(await page.evaluate(() => window.rnIds), `tab ${i + 1} across the handover`);
  }
  await first.close();
  await waitFor(async () => (await sseClients(direct.url)) === 0, 5000, 'the stream closed with its tabs');

  // 12 tabs through HAProxy, then a second browser beside them: one stream each.
  const second = await browser.newContext();
  const viaLb = await openTabs(second, lb, TABS, errors);
  await assertAllLive(viaLb, `${TABS} tabs through HAProxy`);
  assert.equal(await totalClients(gateways), 1, `${TABS} tabs through HAProxy hold one stream`);
  const third = await browser.newContext();
  const another = await openTabs(third, lb, 3, errors);
  await assertAllLive([...viaLb, ...another], 'two browsers');
  assert.equal(await totalClients(gateways), 2, 'two browsers hold two streams');
  await second.close();
  await third.close();

  // Without the script (an empty file in its place) each tab streams on its own.
  const plain = await browser.newContext();
  await plain.route('**/static/shared-stream.js', (route) =>
    route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: '// disabled\n' }));
  const alone = await openTabs(plain, direct.url, 2, errors);
  await assertAllLive(alone, 'tabs without shared-stream.js');
  assert.equal(await sseClients(direct.url), 2, 'without the script each tab holds a stream');
  await plain.close();
  await sleep(100);

  assert.deepEqual(errors, [], 'no console errors or failed requests');
});
