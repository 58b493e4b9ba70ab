// Runs test/page.html in headless Chromium (playwright-core, Debian's chromium), headless Firefox
// (geckodriver) and WebKit (WebKitGTK's WebKitWebDriver and MiniBrowser) -- the last two through
// plain WebDriver calls, as playwright's Firefox and WebKit need their own patched builds -- twice
// each: against the browser's WebSocket and against TetherSocket; then, in Chromium, the same page
// bundled by Vite. Every result the page reports becomes a subtest, so node's test runner prints
// the count per browser and part.
//
// scripts/npm-tests.sh sets it up: TETHER_NPM_TEST_DIR is a folder holding page.html, page.js and
// node_modules/tether-ws installed from the packed tarball; TETHER_TEST_URL,
// TETHER_TEST_FAULT_URL and TETHER_TEST_CONTROL come from tether-supervisor; CHROMIUM, FIREFOX,
// GECKODRIVER and WEBKIT_DRIVER are the browsers and the drivers. MiniBrowser has no headless mode:
// npm-tests.sh runs this file under xvfb-run, which sets DISPLAY.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => process.env[name] ?? assert.fail(`${name} is not set: run scripts/npm-tests.sh`);
const dir = path.resolve(env('TETHER_NPM_TEST_DIR'));
const PAGE_TIMEOUT_MS = 180_000;

// The page's own tests: the plain-WebSocket part runs in both passes, the rest only in Tether's.
const EXPECTED = { websocket: 12, tether: 30 };

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** A static file server for the test folder, on a free loopback port. */
async function serve() {
  const server = http.createServer(async (request, response) => {
    const file = path.join(dir, decodeURIComponent(new URL(request.url, 'http://x').pathname));
    if (!file.startsWith(dir + path.sep)) return response.writeHead(403).end();
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

const server = await serve();
const pageUrl = (impl, page = 'page.html') => {
  const query = new URLSearchParams({
    impl,
    url: env('TETHER_TEST_URL'),
    fault: env('TETHER_TEST_FAULT_URL'),
    control: env('TETHER_TEST_CONTROL'),
    // A server with token auth on (`--jwt-secret tether-browser-tests`), when one runs.
    auth: process.env.TETHER_TEST_AUTH_URL ?? '',
  });
  return `http://127.0.0.1:${server.address().port}/${page}?${query}`;
};

// The page's passes: the browser's WebSocket and TetherSocket from the installed package as a
// plain ES module; in Chromium also TetherSocket from the same page bundled by Vite
// (vite-dist/, built by scripts/npm-tests.sh), as an app that installs tether-ws ships it.
const PASSES = {
  chromium: [
    ['websocket', 'page.html', "the browser's WebSocket"],
    ['tether', 'page.html', 'TetherSocket'],
    ['tether', 'vite-dist/index.html', 'TetherSocket bundled by Vite'],
  ],
  firefox: [
    ['websocket', 'page.html', "the browser's WebSocket"],
    ['tether', 'page.html', 'TetherSocket'],
  ],
  webkit: [
    ['websocket', 'page.html', "the browser's WebSocket"],
    ['tether', 'page.html', 'TetherSocket'],
  ],
};

/** Chromium through playwright-core: returns a function that runs the page once. */
async function openChromium() {
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  return {
    async run(url) {
      const page = await browser.newPage();
      page.on('pageerror', (error) => console.error(`[chromium] page error: ${error.message}`));
      // Refused connections while the server restarts, and the favicon, are expected noise.
      const noise = /WebSocket connection to|Failed to load resource/;
      page.on('console', (message) => message.type() === 'error' && !noise.test(message.text()) && console.error(`[chromium] ${message.text()}`));
      try {
        await page.goto(url);
        await page.waitForFunction(() => window.__done === true, null, { timeout: PAGE_TIMEOUT_MS, polling: 200 });
        return await page.evaluate(() => window.__results);
      } finally {
        await page.close();
      }
    },
    close: () => browser.close(),
  };
}

/** Firefox through geckodriver's WebDriver HTTP API. */
const openFirefox = () =>
  openWebDriver(env('GECKODRIVER'), (port) => ['--host', '127.0.0.1', '--port', String(port)], {
    alwaysMatch: { browserName: 'firefox', 'moz:firefoxOptions': { binary: env('FIREFOX'), args: ['-headless'] } },
  });

/**
 * WebKit through WebKitWebDriver's WebDriver HTTP API. No capabilities: the driver's defaults
 * start MiniBrowser in automation mode (naming it needs `webkitgtk:browserOptions` with
 * `--automation`, or the session request hangs; `browserName: 'safari'` is refused).
 */
const openWebKit = () => openWebDriver(env('WEBKIT_DRIVER'), (port) => ['--host=127.0.0.1', `--port=${port}`], {});

/** A browser through a W3C WebDriver server: `binary`, started on a free port with `driverArgs(port)`. */
async function openWebDriver(binary, driverArgs, capabilities) {
  const port = await freePort();
  const driver = spawn(binary, driverArgs(port), { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, route, body) => {
    const response = await fetch(base + route, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const { value } = await response.json();
    if (!response.ok) throw new Error(`WebDriver ${method} ${route}: ${value?.message ?? response.status}`);
    return value;
  };
  for (let tries = 0; ; tries++) {
    try {
      if ((await call('GET', '/status')).ready) break;
    } catch (error) {
      if (tries > 100) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { sessionId } = await call('POST', '/session', { capabilities });
  const session = `/session/${sessionId}`;
  const script = (source) => call('POST', `${session}/execute/sync`, { script: source, args: [] });
  return {
    async run(url) {
      await call('POST', `${session}/url`, { url });
      const deadline = Date.now() + PAGE_TIMEOUT_MS;
      for (;;) {
        const results = await script('return window.__done === true ? window.__results : null');
        if (results) return results;
        if (Date.now() > deadline) {
          const log = await script("return document.getElementById('log')?.textContent ?? ''");
          throw new Error(`the page did not finish in ${PAGE_TIMEOUT_MS} ms; its log:\n${log}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async close() {
      await call('DELETE', session).catch(() => {});
      driver.kill();
    },
  };
}

async function freePort() {
  const probe = http.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  probe.close();
  return port;
}

for (const [name, open] of [['chromium', openChromium], ['firefox', openFirefox], ['webkit', openWebKit]]) {
  test(name, { concurrency: 1 }, async (t) => {
    const browser = await open();
    try {
      for (const [impl, page, title] of PASSES[name]) {
        await t.test(`against ${title}`, async (t) => {
          const results = await browser.run(pageUrl(impl, page));
          for (const result of results) {
            await t.test(`${result.part}: ${result.name} (${result.ms} ms)`, () => {
              if (!result.ok) assert.fail(result.error);
            });
          }
          assert.equal(results.length, EXPECTED[impl], 'tests the page ran');
        });
      }
    } finally {
      await browser.close();
    }
  });
}

after(() => server.close());
