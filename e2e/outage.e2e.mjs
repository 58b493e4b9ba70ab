// Nothing said is lost, in real browsers: two people chat in the built app while the server is
// killed (SIGKILL) and started again; what they typed during the outage is delivered exactly
// once, a reload shows the room as it was, and a late joiner sees the same history.
//
// Run by scripts/e2e.sh for Chromium (Debian's chromium and chromedriver) and Firefox (Debian's
// firefox-esr and geckodriver), through W3C WebDriver: playwright-core drives Chromium only, and
// the same steps in both engines are the point. Environment:
//   TETHER_TEST_URL      ws://127.0.0.1:PORT/ws (the server, run by tether-supervisor, SQLite in a
//                        temporary data folder; the app is on http://127.0.0.1:PORT/)
//   TETHER_TEST_CONTROL  http://127.0.0.1:PORT2 (the supervisor: POST /kill, /start)
//   BROWSERS             "chromium,firefox" (default)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const WS_URL = process.env.TETHER_TEST_URL;
const CONTROL = process.env.TETHER_TEST_CONTROL;
if (!WS_URL || !CONTROL) {
  throw new Error('TETHER_TEST_URL and TETHER_TEST_CONTROL must be set: run scripts/e2e.sh');
}
const APP_URL = WS_URL.replace(/^ws/, 'http').replace(/\/ws$/, '/');
const BROWSERS = (process.env.BROWSERS || 'chromium,firefox').split(',');

const ENGINES = {
  chromium: {
    driver: (port) => ['chromedriver', [`--port=${port}`]],
    capabilities: {
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--window-size=1200,900'],
      },
    },
  },
  firefox: {
    driver: (port) => ['geckodriver', ['--port', `${port}`]],
    capabilities: {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: process.env.FIREFOX || '/usr/bin/firefox',
        args: ['-headless', '-width', '1200', '-height', '900'],
      },
    },
  },
};

// geckodriver refuses a body without it.
const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

const drivers = [];
after(() => {
  for (const driver of drivers) driver.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the engine's WebDriver server and returns its URL. */
async function startDriver(engine) {
  const port = await freePort();
  const [command, args] = ENGINES[engine].driver(port);
  const child = spawn(command, args, { stdio: 'ignore' });
  drivers.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const status = await (await fetch(`${url}/status`)).json();
      if (status.value?.ready) return url;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${command} did not start`);
}

/** A browser session: a separate profile, so its own storage, like a separate person. */
class Browser {
  /** A new session of `engine`, with a WebDriver server of its own (geckodriver runs one session). */
  static async open(engine) {
    const driverUrl = await startDriver(engine);
    const response = await fetch(`${driverUrl}/session`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify({ capabilities: { alwaysMatch: ENGINES[engine].capabilities } }),
    });
    const body = await response.json();
    assert.ok(body.value?.sessionId, `a ${engine} session: ${JSON.stringify(body.value)}`);
    return new Browser(`${driverUrl}/session/${body.value.sessionId}`);
  }

  constructor(url) {
    this.url = url;
  }

  async call(method, path, body) {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: JSON_TYPE,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const { value } = await response.json();
    if (value?.error) throw new Error(`${path}: ${value.error}: ${value.message}`);
    return value;
  }

  goto(url) {
    return this.call('POST', '/url', { url });
  }

  run(script, ...args) {
    return this.call('POST', '/execute/sync', { script, args });
  }

  /** Types `text` into the element `css` with the keyboard (WebDriver key events). */
  async type(css, text) {
    const element = await this.call('POST', '/element', { using: 'css selector', value: css });
    const id = Object.values(element)[0];
    await this.call('POST', `/element/${id}/value`, { text });
  }

  /** Waits until `script` returns something truthy, and returns it. */
  async until(what, script, args = [], timeout = 20_000) {
    const deadline = Date.now() + timeout;
    let last;
    while (Date.now() < deadline) {
      try {
        last = await this.run(script, ...args);
        if (last) return last;
      } catch (error) {
        last = error.message;
      }
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
  }

  close() {
    return this.call('DELETE', '');
  }
}

const ENTER = '\uE007';

/** The messages shown in the room, in order, as "text|mine|delivery". */
const LINES = `return [...document.querySelectorAll('.msg')].map((li) =>
  li.querySelector('.text').textContent + '|' + (li.classList.contains('mine') ? 'mine' : 'theirs') +
  '|' + li.dataset.delivery);`;

const texts = (lines) => lines.map((line) => line.split('|')[0]);

async function openChat(browser, nickname) {
  await browser.goto(APP_URL);
  await browser.until('the nickname field', `return document.querySelector('#nickname')`);
  await browser.type('#nickname', nickname + ENTER);
  await browser.until('the join field', `return document.querySelector('#room-name')`);
}

async function join(browser, room) {
  await browser.type('#room-name', room + ENTER);
  await browser.until(
    `joined ${room}`,
    `const h = document.querySelector('.room-view h2');
     const joining = document.querySelector('.room-header .joining');
     return h && h.textContent.includes(arguments[0]) && joining && joining.hidden;`,
    [room],
  );
}

async function say(browser, text) {
  await browser.type('#composer-input', text + ENTER);
}

/** Waits until the page shows exactly `expected` (as a set), each once, its own delivered. */
async function showsAll(browser, expected, what) {
  return browser.until(
    what,
    `const lines = (() => { ${LINES} })();
     const shown = lines.map((l) => l.split('|')[0]);
     const want = arguments[0];
     const settled = lines.every((l) => !l.endsWith('|pending') && !l.endsWith('|failed'));
     const same = shown.length === want.length && want.every((t) => shown.includes(t));
     return settled && same ? lines : null;`,
    [expected],
  );
}

async function control(path) {
  const response = await fetch(`${CONTROL}/${path}`, { method: 'POST' });
  assert.ok(response.ok, `supervisor refused ${path}`);
}

for (const engine of BROWSERS) {
  test(`${engine}: a chat through a kill -9 of the server loses nothing and shows nothing twice`, async () => {
    const alice = await Browser.open(engine);
    const bob = await Browser.open(engine);
    const room = `outage-${engine}-${Date.now().toString(36)}`;
    try {
      await openChat(alice, 'Alice');
      await openChat(bob, 'Bob');
      await join(alice, room);
      await join(bob, room);
      await say(alice, 'a: before');
      await showsAll(bob, ['a: before'], 'Bob sees Alice');
      await say(bob, 'b: before');
      await showsAll(alice, ['a: before', 'b: before'], 'Alice sees Bob');

      await control('kill');
      for (const browser of [alice, bob]) {
        await browser.until(
          'the page to notice the outage',
          `return /Reconnecting|Connecting/.test(document.querySelector('.status-label').textContent)`,
        );
      }
      await say(alice, 'a: during 1');
      await say(bob, 'b: during');
      await say(alice, 'a: during 2');
      const pending = await alice.run(LINES);
      assert.ok(pending.includes('a: during 1|mine|pending'), `queued while down: ${pending}`);
      await sleep(2_000);
      await control('start');

      const all = ['a: before', 'b: before', 'a: during 1', 'b: during', 'a: during 2'];
      const started = Date.now();
      await showsAll(alice, all, 'Alice to have everything, once');
      await showsAll(bob, all, 'Bob to have everything, once');
      console.log(`${engine}: both pages complete ${Date.now() - started} ms after the restart`);

      // A reload shows the room as it was: the same member, back in the room, its own
      // messages its own; the order is now the server's, the same for everyone.
      await bob.run('location.reload()');
      const reloaded = await showsAll(bob, all, 'Bob after a reload');
      assert.deepEqual(
        reloaded.filter((line) => line.includes('|mine|')).map((line) => line.split('|')[0]),
        ['b: before', 'b: during'],
        'after the reload, Bob is still the author of his messages',
      );
      await alice.run('location.reload()');
      const aliceReloaded = await showsAll(alice, all, 'Alice after a reload');
      assert.deepEqual(texts(aliceReloaded), texts(reloaded), 'both see the same history in the same order');
      assert.deepEqual(texts(reloaded).slice(0, 2), ['a: before', 'b: before']);

      // Someone who comes later sees the same conversation.
      const carol = await Browser.open(engine);
      try {
        await openChat(carol, 'Carol');
        await join(carol, room);
        const late = await showsAll(carol, all, 'Carol to see the history');
        assert.deepEqual(texts(late), texts(reloaded), 'a late joiner sees the same history');
      } finally {
        await carol.close();
      }
    } finally {
      await alice.close();
      await bob.close();
    }
  });
}
