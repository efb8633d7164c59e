#!/usr/bin/env node
// One-time (and cheap every-time) setup, run by `npm start`, `npm test` and `npm run bench` before
// anything else. Plain Node with no dependencies: it must work on a fresh clone before node_modules
// exists. Quiet when there is nothing to do.
//
//  1. Node >= 20.19 (mocha 12 and our engines field need it).
//  2. Dependencies: `npm ci` when node_modules is missing or package-lock.json changed since the last
//     install (stamp: node_modules/.setup-stamp); `npm install` when there is no lock file.
//  3. nats-server: the platform starts its own, but it must be installed. As root on Debian/Ubuntu we
//     install it with apt-get; otherwise we say how, in one line, and exit 1.
//  4. chromium (Debian's), for the dashboard's browser test: installed the same way as nats-server.
//     Without it only that test fails, with a message saying how to install it; setup goes on.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MIN_NODE = [20, 19];
const NATS_HINT = 'nats-server is required: install it with your OS package manager (Debian/Ubuntu: sudo apt-get install -y nats-server)';

function fail(message, code = 1) {
  console.error(message);
  process.exit(code);
}

// ---- 1. Node version ------------------------------------------------------------------------
{
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail(`Node ${MIN_NODE.join('.')} or newer is required (this is ${process.versions.node})`);
  }
}

// ---- 2. npm dependencies --------------------------------------------------------------------
function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

{
  const nodeModules = join(root, 'node_modules');
  const lock = join(root, 'package-lock.json');
  const stamp = join(nodeModules, '.setup-stamp');
  const hasLock = existsSync(lock);
  // What the install state is compared against: the lock (or package.json without a lock).
  const sourceTime = mtimeMs(hasLock ? lock : join(root, 'package.json')) ?? 0;
  // Last install we know of: our stamp, else npm's own hidden lockfile (written by every install),
  // so a tree installed by hand is not reinstalled needlessly.
  const installedTime = mtimeMs(stamp) ?? mtimeMs(join(nodeModules, '.package-lock.json'));
  const needInstall = !existsSync(nodeModules) || installedTime === undefined || sourceTime > installedTime;
  if (needInstall) {
    const args = hasLock ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
    console.error(`setup: npm ${args[0]} (dependencies missing or package-lock.json changed)`);
    const r = spawnSync('npm', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
    if (r.error) fail(`setup: could not run npm: ${r.error.message}`);
    if (r.status !== 0) fail(`setup: npm ${args[0]} failed (exit ${r.status ?? r.signal})`, r.status || 1);
  }
  if (needInstall || !existsSync(stamp)) {
    try {
      writeFileSync(stamp, `${new Date().toISOString()}\n`);
    } catch {
      // node_modules may be read-only (shared cache); the check above then simply runs again.
    }
  }
}

// ---- 3. nats-server -------------------------------------------------------------------------
function findNatsServer() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    if (d && existsSync(join(d, 'nats-server'))) return join(d, 'nats-server');
  }
  return undefined;
}

function isDebianLike() {
  if (existsSync('/etc/debian_version')) return true;
  try {
    const osRelease = readFileSync('/etc/os-release', 'utf8');
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(osRelease);
  } catch {
    return false;
  }
}

function hasAptGet() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/bin'];
  return dirs.some((d) => d && existsSync(join(d, 'apt-get')));
}

/** apt-get install as root on Debian/Ubuntu; false when this machine cannot do that. */
function aptInstall(pkg) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!(process.platform === 'linux' && isRoot && isDebianLike() && hasAptGet())) return false;
  console.error(`setup: installing ${pkg} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = spawnSync('sh', ['-c', `apt-get update -qq && apt-get install -y -qq ${pkg}`], { stdio: ['ignore', 'ignore', 'inherit'], env });
  return r.status === 0;
}

if (!findNatsServer()) {
  if (!aptInstall('nats-server') || !findNatsServer()) fail(NATS_HINT);
}

// ---- 4. chromium (dashboard test) -------------------------------------------------------------
if (!['/usr/bin/chromium', '/usr/bin/chromium-browser'].some((p) => existsSync(p)) && !process.env.LAMBDASTORE_CHROMIUM) {
  if (!aptInstall('chromium')) {
    console.error('setup: chromium not found; the dashboard browser test will fail (Debian/Ubuntu: sudo apt-get install -y chromium, or set LAMBDASTORE_CHROMIUM to a Chromium binary)');
  }
}
