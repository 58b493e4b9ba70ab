// Nothing said is lost when a node of a cluster dies, in real browsers: two people chat in the
// built app through HAProxy, each page on a different one of three tether-server nodes that
// share a Redis; the node one of them is on is killed (SIGKILL). What that person types meanwhile
// shows pending, and once the page has reconnected through HAProxy to another node it is
// delivered exactly once on both pages; both then show the same history in the same order, and a
// reload keeps authorship.
//
// The test starts the whole cluster itself, on free ports of 127.0.0.1 (never 6379), for each
// browser: Debian's redis-server (in a temporary folder), three nodes with `--redis`, and HAProxy
// round robin in front, configured as scripts/cluster.sh configures it plus an admin socket,
// through which the test sees which node holds each page's WebSocket (a tunnel is one current
// session on its server) and steers the second page to another node (the first one's server in
// maintenance while it connects). Everything started is killed when the test ends, passing or not.
//
// Run by scripts/e2e.sh for Chromium (Debian's chromium and chromedriver) and Firefox (Debian's
// firefox-esr and geckodriver), through W3C WebDriver, as e2e/outage.e2e.mjs is. Environment:
//   TETHER_SERVER      the tether-server binary (default target/debug/tether-server)
//   TETHER_STATIC_DIR  the built app the nodes serve (default dist)
//   BROWSERS           "chromium,firefox" (default)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath, resolve } from 'node:path';
import {
  Browser,
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
  texts,
} from './chat-page.mjs';
import { alive, BROWSERS, SERVER, start, STATIC_DIR, waitFor } from './processes.mjs';

// Debian installs haproxy in /usr/sbin, which a user's PATH may lack.
const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';


/** Sends `text` to a Unix or TCP socket, half-closes it, and returns everything it answers. */
function ask(address, text) {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(address);
    socket.on('data', (data) => (answer += data));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.end(text);
  });
}

/** Redis, three nodes on it and HAProxy in front, each on a free port, in a temporary folder. */
class Cluster {
  static async start() {
    const cluster = new Cluster(mkdtempSync(joinPath(tmpdir(), 'tether-cluster-')));
    await cluster.startRedis();
    for (let i = 1; i <= 3; i++) await cluster.startNode(`node-${i}`);
    await cluster.startHaproxy();
    return cluster;
  }

  constructor(dir) {
    this.dir = dir;
    this.nodes = new Map();
  }

  log(name) {
    return openSync(joinPath(this.dir, `${name}.log`), 'w');
  }

  async startRedis() {
    this.redisPort = await freePort();
    const redis = start(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', `${this.redisPort}`, '--dir', this.dir, '--appendonly', 'yes', '--save', ''],
      this.log('redis'),
    );
    this.redis = redis;
    await waitFor('redis-server', redis, async () =>
      (await ask({ host: '127.0.0.1', port: this.redisPort }, 'PING\r\nQUIT\r\n')).startsWith('+PONG'),
    );
  }

  async startNode(name) {
    const port = await freePort();
    const node = start(
      SERVER,
      ['--addr', `127.0.0.1:${port}`, '--redis', `redis://127.0.0.1:${this.redisPort}/`, '--proxy-protocol', '--static-dir', STATIC_DIR],
      this.log(name),
    );
    node.port = port;
    this.nodes.set(name, node);
    // Nodes take a PROXY header first (HAProxy sends one): this one says "the balancer itself".
    const healthz = 'PROXY UNKNOWN\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    await waitFor(name, node, async () =>
      (await ask({ host: '127.0.0.1', port }, healthz)).startsWith('HTTP/1.1 200'),
    );
  }

  async startHaproxy() {
    this.port = await freePort();
    this.socket = joinPath(this.dir, 'haproxy.sock');
    const servers = [...this.nodes].map(([name, node]) => `    server ${name} 127.0.0.1:${node.port}`);
    // scripts/cluster.sh's configuration, with this test's port and nodes.
    const config = joinPath(this.dir, 'haproxy.cfg');
    writeFileSync(
      config,
      readFileSync(resolve('scripts/haproxy.cfg.in'), 'utf8')
        .replace('@SOCKET@', this.socket)
        .replace('@PORT@', String(this.port))
        .replace('@SERVERS@', servers.join('\n')),
    );
    this.haproxy = start(HAPROXY, ['-db', '-f', config], this.log('haproxy'));
    await waitFor('haproxy', this.haproxy, async () => {
      const servers = await this.servers();
      return servers.length === 3 && servers.every((server) => server.status === 'UP');
    });
    this.appUrl = `http://127.0.0.1:${this.port}/`;
  }

  /** HAProxy's view of the nodes: name, status (UP, DOWN, MAINT) and current sessions. */
  async servers() {
    const [header, ...rows] = (await ask(this.socket, 'show stat\n')).trim().split('\n');
    const columns = header.replace(/^# /, '').split(',');
    return rows
      .map((row) => Object.fromEntries(row.split(',').map((value, i) => [columns[i], value])))
      .filter((row) => row.pxname === 'nodes' && this.nodes.has(row.svname))
      .map((row) => ({ name: row.svname, status: row.status, sessions: Number(row.scur) }));
  }

  /**
   * Waits until HAProxy holds exactly `count` sessions, all on live nodes (the pages'
   * WebSockets, once their page loads are over), and returns the nodes holding them.
   */
  async sockets(count) {
    let last;
    for (let i = 0; i < 100; i++) {
      last = await this.servers();
      const total = last.reduce((sum, server) => sum + server.sessions, 0);
      const dead = last.some((server) => server.sessions > 0 && !alive(this.nodes.get(server.name)));
      if (total === count && !dead) {
        // Twice in a row, 200 ms apart, so a page's last request is not taken for its socket.
        await sleep(200);
        const again = await this.servers();
        if (JSON.stringify(again) === JSON.stringify(last)) {
          return last.filter((server) => server.sessions > 0).map((server) => server.name);
        }
      }
      await sleep(100);
    }
    throw new Error(`HAProxy never held ${count} sessions: ${JSON.stringify(last)}`);
  }

  /** Sets a node's state in HAProxy: "maint" (no new connections, the open ones kept) or "ready". */
  async setState(name, state) {
    const answer = await ask(this.socket, `set server nodes/${name} state ${state}\n`);
    assert.equal(answer.trim(), '', `set server ${name} state ${state}: ${answer}`);
  }

  async kill(name) {
    const node = this.nodes.get(name);
    node.kill('SIGKILL');
    await node.exited;
  }

  async stop() {
    for (const child of [this.haproxy, ...this.nodes.values(), this.redis]) {
      if (!child || !alive(child)) continue;
      child.kill('SIGKILL');
      await child.exited;
    }
  }

  /** The last lines of every process's log, for a failure's report. */
  logs() {
    return ['redis', ...this.nodes.keys(), 'haproxy']
      .map((name) => {
        const lines = readFileSync(joinPath(this.dir, `${name}.log`), 'utf8').trim().split('\n');
        return `--- ${name}.log (last lines)\n${lines.slice(-15).join('\n')}`;
      })
      .join('\n');
  }
}

for (const engine of BROWSERS) {
  test(`${engine}: a chat through HAProxy loses nothing and shows nothing twice when a node is killed`, async () => {
    const cluster = await Cluster.start();
    const room = `cluster-${engine}-${Date.now().toString(36)}`;
    const browsers = [];
    try {
      const alice = await Browser.open(engine);
      browsers.push(alice);
      const bob = await Browser.open(engine);
      browsers.push(bob);

      // Alice lands where round robin sends her; Bob's page is loaded while HAProxy keeps new
      // connections off Alice's node, so the two are on different nodes.
      await openChat(alice, cluster.appUrl, 'Alice');
      await join(alice, room);
      const [aliceNode] = await cluster.sockets(1);
      await cluster.setState(aliceNode, 'maint');
      await openChat(bob, cluster.appUrl, 'Bob');
      await join(bob, room);
      const bobNode = (await cluster.sockets(2)).find((node) => node !== aliceNode);
      assert.ok(bobNode, 'Bob is on another node than Alice');
      await cluster.setState(aliceNode, 'ready');
      console.log(`${engine}: Alice on ${aliceNode}, Bob on ${bobNode}`);

      await say(alice, 'a: before');
      await showsAll(bob, ['a: before'], 'Bob sees Alice across nodes');
      await say(bob, 'b: before');
      await showsAll(alice, ['a: before', 'b: before'], 'Alice sees Bob across nodes');

      await cluster.kill(aliceNode);
      const killed = Date.now();
      await alice.until('Alice to notice the outage', `return /Reconnecting|Connecting/.test((() => { ${STATUS} })())`);
      await say(alice, 'a: during 1');
      // Read in one go: the line is pending while the page is not connected, so it was queued.
      const [status, queued] = await alice.run(`return [(() => { ${STATUS} })(), (() => { ${LINES} })()]`);
      assert.ok(queued.includes('a: during 1|mine|pending'), `queued while down: ${queued}`);
      assert.match(status, /Reconnecting|Connecting/, 'typed while the page was not connected');
      await say(bob, 'b: during');
      await say(alice, 'a: during 2');

      const all = ['a: before', 'b: before', 'a: during 1', 'b: during', 'a: during 2'];
      await showsAll(alice, all, 'Alice to have everything, once');
      await showsAll(bob, all, 'Bob to have everything, once');
      const complete = Date.now() - killed;
      const nodes = await cluster.sockets(2);
      assert.ok(!nodes.includes(aliceNode), `both pages on live nodes: ${nodes}`);
      console.log(`${engine}: both pages complete ${complete} ms after the kill of ${aliceNode} (now on ${nodes})`);

      // A reload goes through HAProxy to any live node: the same member, back in the room, its
      // own messages its own; the order is now the server's, the same for everyone.
      await reload(bob);
      const reloaded = await showsAll(bob, all, 'Bob after a reload');
      assert.deepEqual(
        mine(reloaded),
        ['b: before', 'b: during'],
        'after the reload, Bob is still the author of his messages',
      );
      await reload(alice);
      const aliceReloaded = await showsAll(alice, all, 'Alice after a reload');
      // In the order she typed them: a node stores one connection's messages in that order.
      assert.deepEqual(
        mine(aliceReloaded),
        ['a: before', 'a: during 1', 'a: during 2'],
        'after the reload, Alice is still the author of hers',
      );
      assert.deepEqual(texts(aliceReloaded), texts(reloaded), 'both see the same history in the same order');
      assert.deepEqual(texts(reloaded).slice(0, 2), ['a: before', 'b: before']);
    } catch (error) {
      console.log(`${engine}: the cluster's logs, kept in ${cluster.dir}:\n${cluster.logs()}`);
      throw error;
    } finally {
      for (const browser of browsers) await browser.close().catch(() => {});
      await cluster.stop();
    }
    rmSync(cluster.dir, { recursive: true, force: true });
  });
}
