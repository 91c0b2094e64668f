#!/usr/bin/env node
/**
 * Make sure Debian's chromium is installed: the HTML report's browser test
 * (test/cli/report.browser.test.ts) drives /usr/bin/chromium with playwright-core.
 *
 * Runs as npm's `pretest` and from .ci/run. When chromium is missing and this process can install
 * it (root, apt-get present), it runs `apt-get install chromium`. When it cannot, it says how and
 * exits 0: the rest of the suite still runs, and the browser test fails with the same advice
 * (it never skips).
 *
 *   node scripts/ensure-chromium.mjs           install if missing and possible
 *   node scripts/ensure-chromium.mjs --check   only report (exit 1 when missing)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const CHROMIUM = process.env.SYSLET_CHROMIUM ?? '/usr/bin/chromium';
const INSTALL_HINT =
  "install Debian's chromium package: `sudo apt-get install chromium` (as root: `apt-get update && apt-get install -y chromium`), " +
  'or set SYSLET_CHROMIUM to a Chromium binary';

function log(msg) {
  process.stderr.write(`ensure-chromium: ${msg}\n`);
}

function usable() {
  if (!fs.existsSync(CHROMIUM)) return false;
  const r = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0;
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = `${dir}/${cmd}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(cmd, args) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

function main() {
  // A Chromium of the user's own (SYSLET_CHROMIUM) is not ours to install.
  const checkOnly = process.argv.includes('--check') || process.env.SYSLET_CHROMIUM !== undefined;
  if (usable()) return 0;
  if (checkOnly) {
    log(`${CHROMIUM} is missing; ${INSTALL_HINT}`);
    return 1;
  }
  const aptGet = which('apt-get');
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (aptGet === undefined || !root) {
    log(
      `${CHROMIUM} is missing and cannot be installed from here (${aptGet === undefined ? 'no apt-get' : 'not root'}); ` +
        `the HTML report's browser test will fail until you ${INSTALL_HINT}`,
    );
    return 0;
  }
  log(`${CHROMIUM} is missing: installing Debian's chromium package`);
  const ok =
    run(aptGet, ['-o', 'Dpkg::Use-Pty=0', '-qq', 'update']) &&
    run(aptGet, ['-o', 'Dpkg::Use-Pty=0', '-qq', 'install', '-y', '--no-install-recommends', 'chromium']);
  if (!ok || !usable()) {
    log(`installing chromium failed; the HTML report's browser test will fail until you ${INSTALL_HINT}`);
    return 0;
  }
  log(`installed ${CHROMIUM}`);
  return 0;
}

process.exitCode = main();
