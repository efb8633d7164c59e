/**
 * Which cluster a command talks to: `--nats` / LAMBDASTORE_NATS_URL / the `cluster.json` that
 * `lambdastore dev` writes into its data folder; prefix from `--prefix` / LAMBDASTORE_PREFIX / that file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_PREFIX } from '@lambdastore/proto';
import { UsageError } from './args.js';

export const DEFAULT_DATA_DIR = '.lambdastore/dev';

export interface ConnectionSettings {
  natsUrl: string;
  prefix: string;
  /** Where the URL came from, for error messages. */
  source: 'option' | 'env' | 'cluster.json';
}

export interface ConnectionInputs {
  nats?: string | undefined;
  prefix?: string | undefined;
  data?: string | undefined;
}

export function resolveConnection(opts: ConnectionInputs, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ConnectionSettings {
  const envUrl = env.LAMBDASTORE_NATS_URL || env.LAMBDASTORE_NATS || undefined;
  const envPrefix = env.LAMBDASTORE_PREFIX || undefined;
  if (opts.nats) return { natsUrl: opts.nats, prefix: opts.prefix ?? envPrefix ?? DEFAULT_PREFIX, source: 'option' };
  if (envUrl) return { natsUrl: envUrl, prefix: opts.prefix ?? envPrefix ?? DEFAULT_PREFIX, source: 'env' };
  const explicit = opts.data ?? env.LAMBDASTORE_DATA;
  // Without --data, look for the dev cluster's folder here and in every parent, as git finds .git.
  const file = explicit !== undefined ? join(resolve(cwd, explicit), 'cluster.json') : findUp(cwd, join(DEFAULT_DATA_DIR, 'cluster.json'));
  let info: { natsUrl?: unknown; prefix?: unknown };
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as typeof info;
  } catch {
    throw new UsageError(`no cluster to talk to: pass --nats <url>, set LAMBDASTORE_NATS_URL, or start one with \`lambdastore dev\` (no ${file})`);
  }
  if (typeof info.natsUrl !== 'string' || info.natsUrl === '') throw new UsageError(`${file} has no "natsUrl"`);
  const filePrefix = typeof info.prefix === 'string' && info.prefix !== '' ? info.prefix : undefined;
  return { natsUrl: info.natsUrl, prefix: opts.prefix ?? envPrefix ?? filePrefix ?? DEFAULT_PREFIX, source: 'cluster.json' };
}

/** The first `<dir>/<relative>` that exists from `start` upwards, else the one under `start`. */
function findUp(start: string, relative: string): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return join(resolve(start), relative);
  }
}
