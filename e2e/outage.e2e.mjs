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
import {
  Browser,
  join,
  killDrivers,
  LINES,
  openChat,
  say,
  showsAll,
  sleep,
  texts,
} from './chat-page.mjs';

const WS_URL = process.env.TETHER_TEST_URL;
const CONTROL = process.env.TETHER_TEST_CONTROL;
if (!WS_URL || !CONTROL) {
  throw new Error('TETHER_TEST_URL and TETHER_TEST_CONTROL must be set: run scripts/e2e.sh');
}
const APP_URL = WS_URL.replace(/^ws/, 'http').replace(/\/ws$/, '/');
const BROWSERS = (process.env.BROWSERS || 'chromium,firefox').split(',');

after(killDrivers);

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
      await openChat(alice, APP_URL, 'Alice');
      await openChat(bob, APP_URL, 'Bob');
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
        await openChat(carol, APP_URL, 'Carol');
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
