// lib.mjs -- what the browser tests share: Debian's Chromium through playwright-core, our
// programs as child processes on free loopback ports, and bounded waits.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BIN = process.env.RN_BIN_DIR ?? path.resolve(import.meta.dirname, '../../build/bin');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// Starts one of our programs; its output is kept for the failure report.
export function startProgram(name, args) {
  const child = spawn(path.isAbsolute(name) ? name : path.join(BIN, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  child.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return child;
}

export async function stopProgram(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

export async function startSystem({ intervalMs = 1000, gatewayArgs = [] } = {}) {
  const busPort = await freePort();
  const httpPort = await freePort();
  const endpoint = `tcp://127.0.0.1:${busPort}`;
  const generator = startProgram('generator', ['--bind', endpoint, '--interval-ms', String(intervalMs)]);
  const gateway = startProgram('gateway', ['--listen', `127.0.0.1:${httpPort}`, '--connect', endpoint,
    '--threads', '64', '--drain-ms', '0', ...gatewayArgs]);
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => {
    try { return (await fetch(`${url}/readyz`)).status === 200; } catch { return false; }
  }, 10000, 'gateway ready');
  return { url, endpoint, programs: [gateway, generator] };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}

// Collects console errors, page errors and failed requests of a page.
export function watchErrors(page, errors) {
  page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') errors.push(`console ${msg.type()}: ${msg.text()}`); });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    // An SSE fetch aborted because the page closed is not an error of the page.
    if (!failure.includes('ERR_ABORTED')) errors.push(`request failed: ${req.url()} ${failure}`);
  });
}

// The number and event id the card shows.
export async function shownNumber(page) {
  return page.evaluate(() => {
    const span = document.querySelector('#number .number');
    return span ? { value: span.textContent, id: span.dataset.eventId } : null;
  });
}

// HAProxy in front of gateways, as the compose stack has it: fewest streams first,
// readiness checks, and a retry on another gateway for a refused request.
function haproxyConfig(port, backends) {
  return `global
  log stderr format raw local0 warning
defaults
  mode http
  log global
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  option redispatch
  retries 3
  retry-on conn-failure empty-response 503
frontend web
  bind 127.0.0.1:${port}
  default_backend gateways
backend gateways
  balance leastconn
  option httpchk GET /readyz
  http-check expect status 200
${backends.map((b, i) => `  server gw${i} ${b} check inter 300ms fall 1 rise 1`).join('\n')}
`;
}

async function untilReady(url, what) {
  await waitFor(async () => { try { return (await fetch(`${url}/readyz`)).ok; } catch { return false; } }, 10000, what);
}

// A generator, `count` gateways and HAProxy in front of them, all on loopback; stopped by
// the test's defer, with their output printed when the test failed.
export async function startFleet(defer, { count = 2, intervalMs = 200, gatewayArgs = [] } = {}) {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const generator = startProgram('generator', ['--bind', endpoint, '--interval-ms', String(intervalMs)]);
  const gateways = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const proc = startProgram('gateway', ['--listen', `127.0.0.1:${port}`, '--connect', endpoint,
      '--threads', '64', '--drain-ms', '0', ...gatewayArgs]);
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
  for (const g of gateways) await untilReady(g.url, 'gateway ready');
  await untilReady(lb, 'haproxy up');
  return { endpoint, generator, gateways, lb };
}

// The gateway's count of connected SSE clients.
export async function sseClients(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^rn_gateway_sse_clients (\S+)$/m.exec(text)[1]);
}

// Runs the test body, always stopping programs and the browser; exits non-zero on failure.
export async function runTest(name, body) {
  const cleanups = [];
  let failed = false;
  try {
    await body((fn) => cleanups.push(fn));
    console.log(`ok - ${name}`);
  } catch (err) {
    failed = true;
    console.log(`not ok - ${name}\n${err.stack}`);
  }
  for (const fn of cleanups.reverse()) {
    try { await fn(failed); } catch (err) { console.log(`cleanup: ${err.message}`); }
  }
  process.exit(failed ? 1 : 0);
}
