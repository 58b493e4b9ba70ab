// Token auth in real browsers: the chat app against a server that hands out short-lived tokens
// (`--dev-issue-tokens --dev-token-ttl 2s`, heartbeat every second). Two people sign in with the
// nicknames they type, and chat while their tokens expire: the server closes each connection with
// 4419 (its log says `TokenExpired`), and each page fetches a new token for the same user and
// comes back by itself, with nobody touching it, several times. Every message typed meanwhile,
// around the expiries, arrives exactly once on both pages; the names shown are the tokens'
// (an `identify`, which the server refuses to a token with a name, would show a notice); a reload
// comes back as the same user, the author of its messages. The chat without auth is the subject
// of the other tests (chat, outage, cluster), against a server without it. And a server with
// token auth but no dev issuer (`--jwt-secret` alone): the page says it cannot sign in, and
// stops there.
//
// The test starts its own server (on a free port of 127.0.0.1, its data in a temporary folder)
// and kills it when it ends, passing or not. Run by scripts/e2e.sh for Chromium (Debian's
// chromium and chromedriver) and Firefox (Debian's firefox-esr and geckodriver), through W3C
// WebDriver, as e2e/outage.e2e.mjs is. Environment:
//   TETHER_SERVER      the tether-server binary (default target/debug/tether-server)
//   TETHER_STATIC_DIR  the built app it serves (default dist)
//   BROWSERS           "chromium,firefox" (default)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import {
  Browser,
  ENTER,
  freePort,
  join,
  LINES,
  mine,
  openChat,
  reload,
  say,
  showsAll,
  sleep,
  STATUS,
} from './chat-page.mjs';
import { BROWSERS, SERVER, start, STATIC_DIR, waitFor } from './processes.mjs';

/** The server with token auth `flags`, on a free port, its files in a new folder. */
async function startServer(flags) {
  const dir = mkdtempSync(joinPath(tmpdir(), 'tether-auth-'));
  const port = await freePort();
  const log = joinPath(dir, 'server.log');
  const child = start(
    SERVER,
    ['--addr', `127.0.0.1:${port}`, '--static-dir', STATIC_DIR, '--data-dir', joinPath(dir, 'data'), ...flags],
    openSync(log, 'w'),
  );
  const url = `http://127.0.0.1:${port}/`;
  const logText = () => readFileSync(log, 'utf8');
  await waitFor(`the server (its log: ${log})`, child, async () => (await fetch(`${url}healthz`)).ok);
  const stop = () => child.kill('SIGKILL');
  return { url, dir, logText, stop };
}

// What a page shows about itself, read in one go: the name in the status bar, the notice if any,
// the status, how many times the server said `connected` (the app marks each), and the user id
// the page keeps.
const SELF = `return {
  name: document.querySelector('.me strong')?.textContent,
  notice: document.querySelector('.notice')?.textContent ?? null,
  status: (() => { ${STATUS} })(),
  connected: performance.getEntriesByName('tether:connected').length,
  user: localStorage.getItem('tether:user'),
};`;

/** The names shown on the messages of others, by text: "text|name". */
const THEIRS = `return [...document.querySelectorAll('.msg:not(.mine)')].map((li) =>
  li.querySelector('.text').textContent + '|' + li.querySelector('.from').textContent);`;

/** How many connections the server closed because their token expired. */
const expiries = (log) => (log.match(/ending=TokenExpired/g) || []).length;

for (const engine of BROWSERS) {
  test(`${engine}: tokens expire mid-chat and the pages renew them by themselves, losing and doubling nothing`, async () => {
    // 2 s tokens; the server checks expiry at its heartbeat, so an expired token's connection
    // is closed within a second of its 5 s leeway.
    const server = await startServer(['--dev-issue-tokens', '--dev-token-ttl', '2s', '--heartbeat-interval', '1s']);
    const room = `auth-${engine}-${Date.now().toString(36)}`;
    const browsers = [];
    try {
      const ada = await Browser.open(engine);
      browsers.push(ada);
      const bo = await Browser.open(engine);
      browsers.push(bo);
      await openChat(ada, server.url, 'Ada');
      await openChat(bo, server.url, 'Bo');
      await join(ada, room);
      await join(bo, room);
      const adaSelf = await ada.run(SELF);
      const boSelf = await bo.run(SELF);
      assert.equal(adaSelf.name, 'Ada');
      assert.equal(boSelf.name, 'Bo');
      assert.match(adaSelf.user ?? '', /^dev-/, 'the user id the issuer gave is kept');
      assert.notEqual(adaSelf.user, boSelf.user, 'two people, two users');

      // Chat for as long as it takes both pages to have been closed for an expired token and
      // back twice (a token lasts 2 s, plus the server's 5 s leeway): a message from each every
      // 300 ms, so some are on their way at each expiry.
      const sent = [];
      const started = Date.now();
      for (let n = 1; ; n++) {
        await say(ada, `a${n}`);
        await say(bo, `b${n}`);
        sent.push(`a${n}`, `b${n}`);
        const [a, b] = [await ada.run(SELF), await bo.run(SELF)];
        if (a.connected >= 3 && b.connected >= 3 && expiries(server.logText()) >= 4) break;
        assert.ok(Date.now() - started < 60_000, `both renewed twice within a minute: ${JSON.stringify([a, b])}`);
        await sleep(300);
      }
      console.log(`${engine}: ${sent.length} messages across ${expiries(server.logText())} expiries in ${Date.now() - started} ms`);
      await say(ada, 'a: after');
      await say(bo, 'b: after');
      sent.push('a: after', 'b: after');

      const adaLines = await showsAll(ada, sent, 'Ada to have every message, once, her own delivered');
      const boLines = await showsAll(bo, sent, 'Bo to have every message, once, his own delivered');
      assert.deepEqual(mine(adaLines).sort(), sent.filter((t) => t.startsWith('a')).sort());
      assert.deepEqual(mine(boLines).sort(), sent.filter((t) => t.startsWith('b')).sort());
      // Each page shows the other's messages under the other's token name.
      for (const [page, other] of [[ada, 'Bo'], [bo, 'Ada']]) {
        const names = new Set((await page.run(THEIRS)).map((line) => line.split('|')[1]));
        assert.deepEqual([...names], [other], `the names on the other's messages`);
      }
      for (const page of [ada, bo]) {
        const self = await page.run(SELF);
        assert.equal(self.notice, null, 'no notice: no refused identify, no failed sign-in');
        assert.equal(self.status, 'Connected');
      }

      // A reload: a new page signs in again as the same user, and its messages are its own. It
      // shows the room's latest page (50 messages), each once.
      await reload(bo);
      const shown = Math.min(sent.length, 50);
      const reloaded = await bo.until(
        'Bo after a reload, with the latest page',
        `const lines = (() => { ${LINES} })();
         return lines.length === arguments[0] && lines.every((l) => l.endsWith('|delivered') || l.endsWith('|received'))
           ? lines : null;`,
        [shown],
      );
      const texts = reloaded.map((line) => line.split('|')[0]);
      assert.equal(new Set(texts).size, shown, `each once: ${texts}`);
      assert.ok(texts.every((text) => sent.includes(text)), `only what was sent: ${texts}`);
      assert.deepEqual(mine(reloaded), texts.filter((text) => text.startsWith('b')), 'his own are his');
      const after = await bo.run(SELF);
      assert.equal(after.user, boSelf.user, 'the same user after a reload');
      assert.equal(after.name, 'Bo');
      assert.equal(after.notice, null);
    } catch (error) {
      console.log(`${engine}: the server's log, kept in ${server.dir}:\n${server.logText().split('\n').slice(-30).join('\n')}`);
      throw error;
    } finally {
      for (const browser of browsers) await browser.close().catch(() => {});
      server.stop();
    }
    rmSync(server.dir, { recursive: true, force: true });
  });
}

for (const engine of BROWSERS) {
  test(`${engine}: a server that wants tokens and issues none gets a clear notice, not a reconnect loop`, async () => {
    const server = await startServer(['--jwt-secret', 'tokens-from-elsewhere']);
    let browser;
    try {
      browser = await Browser.open(engine);
      await browser.goto(server.url);
      await browser.until('the nickname field', `return document.querySelector('#nickname')`);
      await browser.type('#nickname', 'Cy' + ENTER);
      const self = await browser.until(
        'the notice',
        `const self = (() => { ${SELF} })(); return self.notice ? self : null;`,
      );
      assert.match(self.notice, /hands none out/);
      await sleep(3_000);
      const later = await browser.run(SELF);
      assert.equal(later.status, 'Disconnected');
      assert.equal(later.connected, 0);
      // The tokenless first connection, and nothing since.
      const refused = (server.logText().match(/refused a token/g) || []).length;
      assert.equal(refused, 1, `one refused connection: ${server.logText()}`);
    } finally {
      await browser?.close().catch(() => {});
      server.stop();
    }
    rmSync(server.dir, { recursive: true, force: true });
  });
}
