/**
 * Child processes of the peers: spawn, wait for a ready line (bounded, output shown on failure),
 * stop by pid (SIGTERM, then SIGKILL). Every process a system starts goes through here so nothing
 * is left running after a run, even a failed one.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number | undefined;
  output(): string;
  stop(timeoutMs?: number): Promise<void>;
}

export async function startChild(
  what: string,
  command: string,
  args: string[],
  /** A line that says the child is ready; null: ready once spawned (the caller polls it). */
  ready: RegExp | null,
  opts: SpawnOptions & { readyTimeoutMs?: number } = {},
): Promise<Child> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  running.add(child);
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
  const handle: Child = {
    process: child,
    pid: child.pid,
    output: () => out,
    async stop(timeoutMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  if (ready === null) return handle;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${what}: not ready after ${timeoutMs} ms`)), timeoutMs);
    const check = () => { if (ready.test(out)) { cleanup(); resolve(); } };
    const fail = (err: Error) => { cleanup(); void handle.stop(1000); reject(new Error(`${err.message}; output:\n${out.slice(-3000)}`)); };
    const onExit = (code: number | null, sig: string | null) => fail(new Error(`${what} exited (${sig ?? code}) before it was ready`));
    const onError = (err: Error) => fail(new Error(`${what}: ${err.message}`));
    const cleanup = () => { clearTimeout(timer); child.stdout?.off('data', check); child.stderr?.off('data', check); child.off('exit', onExit); child.off('error', onError); };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    child.once('error', onError);
  });
  return handle;
}

/** A free TCP port on loopback (bound and released; the peer binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns true (bounded). */
export async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pids of this process's children whose command name starts with `name` (Linux /proc; [] elsewhere). */
export function childPidsNamed(name: string): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          return ppid === process.pid && comm.startsWith(name);
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU time (user + system) a process has used, in microseconds; undefined off Linux. */
export function cpuMicros(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000; // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return undefined;
  }
}
