// End-to-end test of the Tether chat: the release build of the app, served by the real
// tether-server (run by tether-supervisor, which can restart it), driven in headless Chromium by
// playwright-core. Run by scripts/e2e.sh, which sets:
//   TETHER_TEST_URL      ws://127.0.0.1:PORT/ws (the server; the app is on http://127.0.0.1:PORT/)
//   TETHER_TEST_CONTROL  http://127.0.0.1:PORT2 (the supervisor's control API)
//   CHROMIUM             the browser (default /usr/bin/chromium)
// Screenshots and measurements go to e2e/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const WS_URL = process.env.TETHER_TEST_URL;
const CONTROL = process.env.TETHER_TEST_CONTROL;
if (!WS_URL || !CONTROL) {
  throw new Error('TETHER_TEST_URL and TETHER_TEST_CONTROL must be set: run scripts/e2e.sh');
}
const APP_URL = WS_URL.replace(/^ws/, 'http').replace(/\/ws$/, '/');
const SHOTS = new URL('./screenshots/', import.meta.url);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// What Chrome logs by itself while the server is down; anything else on the console fails a test.
const EXPECTED_CONSOLE = /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/;

let browser;
const pages = [];

before(async () => {
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/** A page in its own browser context (its own storage, like a separate person), with checks. */
async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !EXPECTED_CONSOLE.test(message.text())) {
      page.problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('dialog', (dialog) => {
    page.problems.push(`dialog opened: ${dialog.message()}`);
    dialog.dismiss();
  });
  pages.push(page);
  return page;
}

function assertNoProblems(...list) {
  for (const page of list) {
    assert.deepEqual(page.problems, [], 'no page errors, console errors or dialogs');
  }
}

/** Opens the chat and picks a nickname, using the keyboard only. */
async function openChat(nickname, viewport) {
  const page = await newPage(viewport);
  await page.goto(APP_URL);
  await page.locator('#nickname:focus').waitFor();
  await page.keyboard.type(nickname);
  await page.keyboard.press('Enter');
  await page.locator('#room-name').waitFor();
  await statusIs(page, 'Connected');
  return page;
}

/** Joins a room with the keyboard and waits until the server confirmed it. */
async function join(page, room) {
  await page.locator('#room-name').focus();
  await page.keyboard.type(room);
  await page.keyboard.press('Enter');
  await page.locator('.room-view h2', { hasText: room }).waitFor();
  await page.locator('.room-header .joining').waitFor({ state: 'hidden' });
}

/** Types a message into the composer and sends it with Enter. */
async function say(page, text) {
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
}

async function statusIs(page, label, timeout = 15_000) {
  await page.locator('.status-label', { hasText: label }).waitFor({ timeout });
}

async function memberCount(page, count) {
  await page.locator('.member-count', { hasText: `${count} members` }).waitFor();
}

/** The texts of the messages from others, in order. */
async function received(page) {
  return page.locator('.msg:not(.mine) .text').allTextContents();
}

async function control(path) {
  const response = await fetch(`${CONTROL}/${path}`, { method: 'POST' });
  assert.ok(response.ok, `supervisor refused ${path}`);
}

/** The URL of the chat screen's split module, content-hashed by scripts/post-build.sh. */
const CHUNK = /\/split_chat_screen-[0-9a-f]+\.wasm$/;

/** The URLs of the chat screen's split module that `page` has requested so far. */
function chunkRequests(page) {
  const urls = [];
  page.on('request', (request) => {
    if (CHUNK.test(request.url())) urls.push(request.url());
  });
  return urls;
}

test('the chat screen is fetched only once the user starts typing a nickname', async () => {
  const page = await newPage();
  const chunk = chunkRequests(page);
  const index = await page.goto(APP_URL);
  assert.equal(index.headers()['content-encoding'], 'gzip', 'the build is sent gzipped');
  await page.locator('#nickname:focus').waitFor();
  await statusIs(page, 'Connected');
  await page.waitForTimeout(300);
  assert.deepEqual(chunk, [], 'the first load does not fetch the chat screen');
  // What crossed the network for the first screen, headers included (the WebSocket aside).
  const firstLoad = await page.evaluate(() =>
    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .reduce((sum, entry) => sum + entry.transferSize, 0),
  );
  console.log(`first load over the network: ${firstLoad} bytes`);
  assert.ok(firstLoad > 50_000 && firstLoad < 110_000, `first load ${firstLoad} bytes`);
  const fetched = page.waitForResponse(CHUNK);
  await page.keyboard.type('D');
  const response = await fetched;
  assert.ok(response.ok(), 'the chat screen arrives');
  assert.equal(response.headers()['content-encoding'], 'gzip');
  await page.keyboard.type('ana');
  assert.equal(await page.locator('#nickname').inputValue(), 'Dana', 'typing went on undisturbed');
  const submitted = Date.now();
  await page.keyboard.press('Enter');
  await page.locator('#room-name:focus').waitFor();
  console.log(`nickname entered to chat screen shown: ${Date.now() - submitted} ms`);
  assert.equal(chunk.length, 1, 'fetched once');
  // Its styles came with it.
  assert.equal(await page.locator('.chat').evaluate((e) => getComputedStyle(e).display), 'grid');
  assertNoProblems(page);
  await page.context().close();
});

test('a chat screen that fails to load says so, and "Try again" loads it', async () => {
  const page = await newPage();
  await page.route(CHUNK, (route) => route.abort());
  await page.goto(APP_URL);
  await page.locator('#nickname:focus').waitFor();
  await page.keyboard.type('Erin');
  await page.keyboard.press('Enter');
  await page.locator('[role="status"]', { hasText: 'The chat could not be loaded' }).waitFor();
  await page.unroute(CHUNK);
  await page.getByRole('button', { name: 'Try again' }).click();
  await page.locator('#room-name').waitFor();
  await join(page, 'retry-room');
  // The loader logs the failed fetch; nothing else may go wrong.
  const unexpected = page.problems.filter((p) => !/Failed to fetch|ERR_FAILED/.test(p));
  assert.deepEqual(unexpected, []);
  await page.context().close();
});

let alice;
let bob;

test('two people join a room and chat both ways, keyboard only', async () => {
  alice = await openChat('Alice');
  // After the nickname, focus moves to "Join a room".
  assert.equal(await alice.evaluate(() => document.activeElement?.id), 'room-name');
  bob = await openChat('Bob');
  await join(alice, 'lobby');
  // The composer takes focus when the room opens: no mouse needed to start typing.
  assert.equal(await alice.evaluate(() => document.activeElement?.id), 'composer-input');
  await join(bob, 'lobby');
  await memberCount(alice, 2);
  await memberCount(bob, 2);
  // Joins show in the conversation.
  await alice.locator('.event', { hasText: 'Bob joined' }).waitFor();

  await alice.keyboard.type('hello Bob');
  await alice.keyboard.press('Enter');
  // Shown at once as Alice's own, then delivered when the server acks it.
  const mine = alice.locator('.msg.mine', { hasText: 'hello Bob' });
  await mine.waitFor();
  await alice.locator('.msg.mine[data-delivery="delivered"]', { hasText: 'hello Bob' }).waitFor();
  const fromAlice = bob.locator('.msg:not(.mine)', { hasText: 'hello Bob' });
  await fromAlice.waitFor();
  assert.equal(await fromAlice.locator('.from').textContent(), 'Alice');
  assert.match(await fromAlice.locator('time').textContent(), /^\d\d:\d\d$/);

  await say(bob, 'hi Alice');
  await alice.locator('.msg:not(.mine)', { hasText: 'hi Alice' }).waitFor();
  await bob.locator('.msg.mine[data-delivery="delivered"]', { hasText: 'hi Alice' }).waitFor();
  // The live region reads out the newest message from someone else.
  await alice.locator('[aria-live="polite"]', { hasText: 'Bob: hi Alice' }).waitFor();
  assertNoProblems(alice, bob);
});

test('several rooms at once, and leaving one', async () => {
  await join(bob, 'random');
  assert.deepEqual(await bob.locator('.room-name').allTextContents(), ['lobby', 'random']);
  // A message in lobby while Bob looks at random counts as unread there.
  await say(alice, 'are you there?');
  await bob.locator('.room-button', { hasText: 'lobby' }).locator('.badge').waitFor();
  await join(alice, 'random');
  await bob.locator('[aria-label="Leave random"]').click();
  assert.deepEqual(await bob.locator('.room-name').allTextContents(), ['lobby']);
  await bob.locator('.room-view h2', { hasText: 'lobby' }).waitFor();
  await bob.locator('.msg:not(.mine)', { hasText: 'are you there?' }).waitFor();
  // The focus stays in the room list, on the room that took the left one's place.
  await bob.waitForFunction(() => document.activeElement?.matches('.room-button') &&
    document.activeElement.textContent.includes('lobby'));
  // Leaves show in the conversation.
  await alice.locator('.event', { hasText: 'Bob left' }).waitFor();
  await alice.locator('[aria-label="Leave random"]').click();
  await alice.locator('.room-view h2', { hasText: 'lobby' }).waitFor();
  assertNoProblems(alice, bob);
});

test('the typing indicator shows for the other person and expires', async () => {
  await alice.locator('#composer-input').focus();
  await alice.keyboard.type('I am typ', { delay: 30 });
  const indicator = bob.locator('.typing', { hasText: 'Alice is typing…' });
  await indicator.waitFor();
  // Not shown to the typist.
  assert.equal(await alice.locator('.typing').textContent(), '');
  const shownAt = Date.now();
  await bob.locator('.typing').filter({ hasText: /^$/ }).waitFor({ timeout: 6_000 });
  const shownFor = Date.now() - shownAt;
  assert.ok(shownFor > 1_500 && shownFor < 5_000, `expired after ${shownFor} ms, about 3 s`);
  await alice.locator('#composer-input').fill('');
  assertNoProblems(alice, bob);
});

test('a burst of 200 messages all arrive, in order', async () => {
  const started = Date.now();
  // All 200 sends in one task, as fast as the page can make them.
  await alice.evaluate(() => {
    const input = document.querySelector('#composer-input');
    const form = input.form;
    for (let i = 0; i < 200; i++) {
      input.value = `burst ${i}`;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      form.requestSubmit();
    }
  });
  const expected = Array.from({ length: 200 }, (_, i) => `burst ${i}`);
  const bursts = (selector) =>
    [...document.querySelectorAll(selector)].filter((e) => e.textContent.startsWith('burst ')).length;
  await bob.waitForFunction(
    `(${bursts})('.msg:not(.mine) .text') >= 200`,
    null,
    { timeout: 30_000 },
  );
  const atBob = (await received(bob)).filter((t) => t.startsWith('burst '));
  assert.deepEqual(atBob, expected);
  await alice.waitForFunction(
    `(${bursts})('.msg.mine[data-delivery="delivered"] .text') >= 200`,
    null,
    { timeout: 30_000 },
  );
  const atAlice = (await alice.locator('.msg.mine .text').allTextContents()).filter((t) =>
    t.startsWith('burst '),
  );
  assert.deepEqual(atAlice, expected);
  // Bob was at the bottom, so his list followed the burst to its end.
  await bob.waitForFunction(() => {
    const list = document.querySelector('.messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight < 2;
  });
  // Once he scrolls up to read, new messages leave his view alone and offer a way down.
  await bob.evaluate(() => document.querySelector('.messages').scrollTo(0, 0));
  await say(alice, 'one more');
  await bob.locator('.jump', { hasText: '1 new message' }).waitFor();
  assert.equal(await bob.evaluate(() => document.querySelector('.messages').scrollTop), 0);
  await bob.locator('.jump').click();
  await bob.locator('.jump').waitFor({ state: 'detached' });
  await bob.waitForFunction(() => {
    const list = document.querySelector('.messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight < 2;
  });
  console.log(`burst of 200: all delivered and received in ${Date.now() - started} ms`);
  assertNoProblems(alice, bob);
});

test('the server restarts mid-chat: both pages reconnect, rejoin and keep chatting', async () => {
  await control('restart?down_ms=1500');
  await alice.locator('.status-label', { hasText: /^Reconnecting (in \d+ s )?\(attempt \d+\)/ }).waitFor();
  // Sent while the server is down: it waits in the queue as pending and goes out after the
  // automatic rejoin.
  await say(alice, 'sent while down');
  await alice.locator('.msg.mine[data-delivery="pending"]', { hasText: 'sent while down' }).waitFor();
  await statusIs(alice, 'Connected', 20_000);
  await statusIs(bob, 'Connected', 20_000);
  await alice.locator('.msg.mine[data-delivery="delivered"]', { hasText: 'sent while down' }).waitFor({ timeout: 20_000 });
  // Rejoined by themselves: both back in lobby, and each sees the other by name again.
  await alice.locator('.room-header .joining').waitFor({ state: 'hidden' });
  await bob.locator('.room-header .joining').waitFor({ state: 'hidden' });
  await memberCount(alice, 2);
  await memberCount(bob, 2);
  await say(alice, 'still here after the restart');
  const after = bob.locator('.msg:not(.mine)', { hasText: 'still here after the restart' });
  await after.waitFor();
  assert.equal(await after.locator('.from').textContent(), 'Alice', 'the nickname survived');
  await say(bob, 'me too');
  await alice.locator('.msg:not(.mine)', { hasText: 'me too' }).waitFor();
  // Each sees the other by name in the member list, although tether-client rejoins before
  // the app can say its nickname again (the app asks for the list once more when that races).
  for (const [page, expected] of [
    [alice, ['Alice (you)', 'Bob']],
    [bob, ['Alice', 'Bob (you)']],
  ]) {
    await page.locator('.member-count').click();
    await page.waitForFunction(
      (expected) =>
        JSON.stringify([...document.querySelectorAll('.member-list li')].map((li) => li.textContent).sort()) ===
        JSON.stringify(expected),
      expected,
      { timeout: 5_000 },
    );
    await page.locator('.member-count').click();
  }
  assertNoProblems(alice, bob);
});

test('a message with HTML in it shows as literal text', async () => {
  const attack = '<img src=x onerror=alert(1)>';
  await say(alice, attack);
  const line = bob.locator('.msg:not(.mine)').last();
  await line.locator('.text', { hasText: attack }).waitFor();
  assert.equal(await line.locator('.text').textContent(), attack);
  assert.equal(await bob.locator('.messages img').count(), 0);
  assert.equal(await alice.locator('.messages img').count(), 0);
  await bob.waitForTimeout(300);
  assertNoProblems(alice, bob);
});

test('screenshots at desktop and phone widths', async () => {
  const carol = await openChat('Carol', PHONE);
  for (const page of [alice, bob, carol]) await join(page, 'tether');
  await memberCount(carol, 3);
  await say(bob, 'Welcome to #tether! Messages show at once and turn ✓ delivered on the ack.');
  await say(carol, 'Reading this on my phone.');
  await say(alice, 'The server just restarted and nobody noticed.');
  await alice.locator('.msg.mine[data-delivery="delivered"]', { hasText: 'nobody noticed' }).waitFor();
  await carol.locator('.msg', { hasText: 'nobody noticed' }).waitFor();
  await bob.locator('#composer-input').focus();
  await bob.keyboard.type('Typing');
  await alice.locator('.typing', { hasText: 'Bob is typing…' }).waitFor();
  await carol.locator('.typing', { hasText: 'Bob is typing…' }).waitFor();
  await alice.screenshot({ path: new URL('desktop.png', SHOTS).pathname });
  await carol.screenshot({ path: new URL('phone.png', SHOTS).pathname });
  // Nothing sticks out sideways on a phone.
  const overflow = await carol.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.equal(overflow, 0, 'no horizontal scrolling at 390 px');
  assertNoProblems(alice, bob, carol);
});

test('the nickname is remembered across a reload', async () => {
  const page = await openChat('Remy');
  await page.reload();
  await page.locator('#nickname:focus').waitFor();
  assert.equal(await page.locator('#nickname').inputValue(), 'Remy');
  await page.keyboard.press('Enter');
  await page.locator('#room-name:focus').waitFor();
  assert.match(await page.locator('.me').textContent(), /Remy/);
  assertNoProblems(page);
  await page.context().close();
});

test('time from page load to connected', async () => {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const page = await newPage();
    await page.goto(APP_URL);
    const ms = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const poll = () => {
            const [mark] = performance.getEntriesByName('tether:connected');
            if (mark) resolve(mark.startTime);
            else setTimeout(poll, 5);
          };
          poll();
        }),
    );
    times.push(ms);
    await page.context().close();
  }
  times.sort((a, b) => a - b);
  const median = times[2];
  console.log(`page load to connected: median ${median.toFixed(1)} ms of ${times.map((t) => t.toFixed(1)).join(', ')}`);
  await writeFile(
    new URL('metrics.json', SHOTS),
    JSON.stringify({ loadToConnectedMs: { median, runs: times } }, null, 2) + '\n',
  );
  assert.ok(median < 5_000, 'connected within 5 s on localhost');
});
