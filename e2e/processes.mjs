// The processes an end-to-end test starts (servers, Redis, HAProxy) and the binaries it tests:
// every child started here is killed after the tests and on any exit of this process, so a
// failure or an interrupt leaves nothing running (WebDriver servers included).
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import { killDrivers, sleep } from './chat-page.mjs';

export const SERVER = resolve(process.env.TETHER_SERVER || 'target/debug/tether-server');
export const STATIC_DIR = resolve(process.env.TETHER_STATIC_DIR || 'dist');
export const BROWSERS = (process.env.BROWSERS || 'chromium,firefox').split(',');
if (!existsSync(SERVER) || !existsSync(joinPath(STATIC_DIR, 'index.html'))) {
  throw new Error(`${SERVER} and ${STATIC_DIR}/index.html must exist: run scripts/e2e.sh`);
}

const children = new Set();
function killChildren() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  killDrivers();
}
after(killChildren);
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));

/** Starts `command` with `args`, its output to the file descriptor `log` (or nowhere). */
export function start(command, args, log) {
  const child = spawn(command, args, {
    stdio: ['ignore', log ?? 'ignore', log ?? 'ignore'],
    // Plain text in log files.
    env: { ...process.env, NO_COLOR: '1' },
  });
  children.add(child);
  child.exited = new Promise((resolve) => child.on('exit', resolve));
  child.exited.then(() => children.delete(child));
  return child;
}

export const alive = (child) => child.exitCode === null && child.signalCode === null;

/** Waits up to 10 s until `check` resolves to something truthy, failing early if `child` exits. */
export async function waitFor(what, child, check) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`${what} exited`);
    try {
      if (await check()) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${what} did not start in 10 s`);
}
