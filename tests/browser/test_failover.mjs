// test_failover.mjs -- a page behind HAProxy with two gateways: kill the gateway its stream
// is on, and htmx's hx-sse reconnects through HAProxy to the other with Last-Event-ID;
// the ids of the number events the page received have no gap and no duplicate.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, haproxyConfig, launchBrowser, runTest, sseClients, startProgram, stopProgram, waitFor } from './lib.mjs';

runTest('killing the gateway a page streams from loses no event', async (defer) => {
  const busPort = await freePort();
  const endpoint = `tcp://127.0.0.1:${busPort}`;
  const generator = startProgram('generator', ['--bind', endpoint, '--interval-ms', '200']);
  const gateways = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const proc = startProgram('gateway', ['--listen', `127.0.0.1:${port}`, '--connect', endpoint,
      '--threads', '64', '--drain-ms', '0']);
    gateways.push({ proc, addr: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` });
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'rn-haproxy-'));
  const lbPort = await freePort();
  writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConfig(lbPort, gateways.map((g) => g.addr)));
  const haproxy = startProgram('/usr/sbin/haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')]);
  defer(async (failed) => {
    for (const p of [haproxy, ...gateways.map((g) => g.proc), generator]) {
      const result = await stopProgram(p);
      if (failed) console.log(`---- ${p.spawnfile} ${JSON.stringify(result)} ----\n${p.output.slice(-2000)}`);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const lb = `http://127.0.0.1:${lbPort}`;
  for (const g of gateways) {
    await waitFor(async () => { try { return (await fetch(`${g.url}/readyz`)).ok; } catch { return false; } }, 10000, 'gateway ready');
  }
  await waitFor(async () => { try { return (await fetch(`${lb}/readyz`)).ok; } catch { return false; } }, 10000, 'haproxy up');

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
