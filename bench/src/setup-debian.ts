/**
 * The bench's own set-up for peers that come from Debian packages (redis-server, postgresql):
 * found on PATH or in their usual folders; installed with apt-get when we are root on a Debian-like
 * system; otherwise the caller skips the peer with the reason returned here. `npm test` never
 * installs these.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

function onPath(bin: string, extraDirs: string[]): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (d && existsSync(join(d, bin))) return join(d, bin);
  }
  return undefined;
}

/** PostgreSQL keeps its server binaries in /usr/lib/postgresql/<major>/bin on Debian. */
function postgresDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map((v) => `/usr/lib/postgresql/${v}/bin`);
  } catch {
    return [];
  }
}

/** Path of `bin`, installing Debian package `pkg` when it is missing and we may; else an Error saying why. */
export function ensureDebianBinary(bin: string, pkg: string, log: (s: string) => void): string | Error {
  const dirs = () => ['/usr/sbin', '/usr/bin', '/usr/local/bin', ...postgresDirs()];
  const found = onPath(bin, dirs());
  if (found) return found;
  if (process.getuid?.() !== 0) return new Error(`${bin} is not installed and we are not root (install it with: sudo apt-get install -y ${pkg})`);
  if (!existsSync('/etc/debian_version') || !onPath('apt-get', [])) return new Error(`${bin} is not installed and this is not a Debian-like system with apt-get`);
  log(`  installing ${pkg} with apt-get...`);
  let r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  return onPath(bin, dirs()) ?? new Error(`apt-get install -y ${pkg} did not provide ${bin} (exit ${r.status})`);
}

/** First line of `<bin> --version`. */
export function versionOf(bin: string): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0]!.trim();
}
