/**
 * Starts a real `nats-server` (JetStream on) on a free loopback port with its own temp store.
 * Used by tests, benchmarks and `lambdastore dev`. Readiness is read from the server's log line,
 * bounded by `readyTimeoutMs`; the log is kept so a failing test can show it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';

export interface NatsServerOptions {
  /** JetStream store folder; a temp folder (removed on stop) when omitted. */
  storeDir?: string;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  readyTimeoutMs?: number;
  /** Extra arguments for nats-server. */
  args?: string[];
  /** Extra environment for the server process. */
  env?: Record<string, string>;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly storeDir: string;
  /** Everything the server printed so far. */
  log(): string;
  stop(): Promise<void>;
  /** SIGKILL, for fault tests. */
  kill(): void;
}

/** Finds nats-server on PATH or in the sbin folders Debian installs it to. */
export function findNatsServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) {
    if (d && existsSync(join(d, 'nats-server'))) return join(d, 'nats-server');
  }
  return undefined;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server not found: install it (Debian: apt-get install -y nats-server) or run `npm run setup`');
  const ownStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'lambdastore-nats-')));
  const args = ['-a', '127.0.0.1', '-p', String(opts.port ? opts.port : -1), '-js', '-sd', storeDir, ...(opts.args ?? [])];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) } });
  let output = '';
  const onData = (d: Buffer) => {
    output += d.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);

  const port = await new Promise<number>((resolve, reject) => {
    const timeoutMs = opts.readyTimeoutMs ?? 10_000;
    const timer = setTimeout(() => done(new Error(`nats-server not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      const m = /Listening for client connections on [^\s]+:(\d+)/.exec(output);
      if (m && /Server is ready/.test(output)) done(undefined, Number(m[1]));
    };
    const onExit = (code: number | null) => done(new Error(`nats-server exited (${code}) before it was ready:\n${output}`));
    function done(err?: Error, p?: number) {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.stderr!.off('data', check);
      child.off('exit', onExit);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else resolve(p!);
    }
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', onExit);
  });

  let exited = child.exitCode !== null;
  const exitP = new Promise<void>((r) => child.once('exit', () => { exited = true; r(); }));
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    storeDir,
    log: () => output,
    kill: () => { if (!exited) child.kill('SIGKILL'); },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exitP;
        clearTimeout(t);
      }
      if (ownStore) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
