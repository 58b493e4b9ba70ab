// What the end-to-end tests share: W3C WebDriver sessions in Chromium and Firefox (Debian's
// chromium with chromedriver, firefox-esr with geckodriver), and the steps of the chat app as a
// person takes them. Used by outage.e2e.mjs and cluster.e2e.mjs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

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

// The WebDriver servers started here: `killDrivers` ends them (after the tests, and on exit).
const drivers = [];
export function killDrivers() {
  for (const driver of drivers.splice(0)) driver.kill('SIGKILL');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the engine's WebDriver server and returns its URL. */
async function startDriver(engine) {
  const port = await freePort();
  const [command, args] = ENGINES[engine].driver(port);
  drivers.push(spawn(command, args, { stdio: 'ignore' }));
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
export class Browser {
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

export const ENTER = '\uE007';

/** The messages shown in the room, in order, as "text|mine|delivery". */
export const LINES = `return [...document.querySelectorAll('.msg')].map((li) =>
  li.querySelector('.text').textContent + '|' + (li.classList.contains('mine') ? 'mine' : 'theirs') +
  '|' + li.dataset.delivery);`;

export const STATUS = `return document.querySelector('.status-label').textContent`;

export const texts = (lines) => lines.map((line) => line.split('|')[0]);
export const mine = (lines) => texts(lines.filter((line) => line.includes('|mine|')));

export async function openChat(browser, url, nickname) {
  await browser.goto(url);
  await browser.until('the nickname field', `return document.querySelector('#nickname')`);
  await browser.type('#nickname', nickname + ENTER);
  await browser.until('the join field', `return document.querySelector('#room-name')`);
}

export async function join(browser, room) {
  await browser.type('#room-name', room + ENTER);
  await browser.until(
    `joined ${room}`,
    `const h = document.querySelector('.room-view h2');
     const joining = document.querySelector('.room-header .joining');
     return h && h.textContent.includes(arguments[0]) && joining && joining.hidden;`,
    [room],
  );
}

export async function say(browser, text) {
  await browser.type('#composer-input', text + ENTER);
}

/** Waits until the page shows exactly `expected` (as a set), each once, its own delivered. */
export async function showsAll(browser, expected, what) {
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

/** Reloads the page and waits for the new one, so nothing is read from the old one. */
export async function reload(browser) {
  await browser.run('window.beforeReload = true; location.reload()');
  await browser.until('the new page', `return !window.beforeReload && document.readyState === 'complete'`);
}
