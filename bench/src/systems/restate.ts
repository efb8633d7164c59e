/**
 * Restate (npm @restatedev/restate-server + @restatedev/restate-sdk): the server binary with its
 * own config (loopback, free ports, fresh base dir), the SDK endpoint in its own process
 * (restate-endpoint.ts, HTTP/2 cleartext), registered through the admin API; calls go through the
 * HTTP ingress: `POST /<Object>/<key>/<handler>`. Writes and transfers carry an `idempotency-key`,
 * the exactly-once a LambdaStore client call has. Restate persists every call before it answers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { forEachLimited } from '@lambdastore/cli';
import { HttpJson } from '../http.js';
import { freePort, startChild, waitFor, type Child } from '../proc.js';
import { SkipError, type BenchSystem } from './system.js';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function serverBinary(): string {
  try {
    const pkg = require.resolve('@restatedev/restate-server-linux-x64/package.json');
    const bin = join(dirname(pkg), 'bin', 'restate-server');
    if (existsSync(bin)) return bin;
  } catch {
    // not installed for this platform
  }
  throw new SkipError(`no restate-server binary for ${process.platform}-${process.arch} (npm @restatedev/restate-server ships linux-x64 here)`);
}

export function restate(): BenchSystem {
  let dir = '';
  let server: Child | undefined;
  let endpoint: Child | undefined;
  let ingress: HttpJson | undefined;
  const key = () => ({ 'idempotency-key': randomUUID() });
  return {
    id: 'restate',
    label: 'Restate (virtual object)',
    kind: 'peer',
    description: '',
    bank: {
      guarantee: 'the withdrawal commits, the deposit is a durable one-way call that happens later (Restate docs: send, do not await, between objects): no isolation, money is in flight for a moment, the total is right once the sends drain; exactly once with the idempotency key',
      async create(ids, initial) {
        await forEachLimited(ids, 32, async (id) => { await ingress!.post(`/Account/${id}/init`, initial); });
      },
      async transfer(from, to, amount) {
        await ingress!.post(`/Account/${from}/transfer`, { to, amount }, key());
      },
      async balances(ids) {
        return Promise.all(ids.map((id) => ingress!.post<number>(`/Account/${id}/balance`, null)));
      },
    },
    async start() {
      const bin = serverBinary();
      const sdkVersion = (require('@restatedev/restate-sdk/package.json') as { version: string }).version;
      dir = await mkdtemp(join(tmpdir(), 'ls-bench-restate-'));
      const [fabric, ingressPort, adminPort, endpointPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
      const config = [
        `base-dir = "${join(dir, 'data')}"`,
        'listen-mode = "tcp"',
        `bind-address = "127.0.0.1:${fabric}"`,
        `advertised-address = "http://127.0.0.1:${fabric}"`,
        'disable-telemetry = true',
        '[ingress]',
        `bind-address = "127.0.0.1:${ingressPort}"`,
        '[admin]',
        `bind-address = "127.0.0.1:${adminPort}"`,
        'disable-web-ui = true',
      ].join('\n');
      await writeFile(join(dir, 'restate.toml'), config + '\n');
      const env = { ...process.env, RESTATE_LOGGING: 'WARN' };
      server = await startChild('restate-server', bin, ['-c', join(dir, 'restate.toml')], /./, { env, cwd: dir });
      const admin = `http://127.0.0.1:${adminPort}`;
      await waitFor('restate admin API', async () => (await fetch(`${admin}/health`)).ok, 60_000);
      endpoint = await startChild('restate endpoint', process.execPath, [join(here, '..', 'restate-endpoint.js'), String(endpointPort)], /restate endpoint ready/, { env });
      const reg = await fetch(`${admin}/deployments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uri: `http://127.0.0.1:${endpointPort}`, force: true }) });
      if (!reg.ok) throw new Error(`registering the Restate endpoint failed: HTTP ${reg.status} ${await reg.text()}`);
      ingress = new HttpJson('127.0.0.1', ingressPort);
      await waitFor('restate ingress', async () => typeof (await ingress!.post(`/Account/probe/balance`, null)) === 'number', 60_000);
      const version = execFileSync(bin, ['--version']).toString().trim().split('\n')[0];
      this.description = `${version}, SDK ${sdkVersion} (endpoint: one Node process, HTTP/2); default partitions; every call persisted before the answer`;
    },
    async createMicro(ids) {
      await forEachLimited(ids, 64, async (id) => { await ingress!.post(`/Micro/${id}/init`, null, { 'idempotency-key': `init-${id}` }); });
    },
    read: (id, entries) => ingress!.post<number>(`/Micro/${id}/read`, entries),
    write: (id, entries, seed) => ingress!.post<number>(`/Micro/${id}/write`, { entries, seed }, key()),
    processes: () => ({ client: [process.pid], 'restate-server': [server?.pid], endpoint: [endpoint?.pid] }),
    async stop() {
      ingress?.close();
      await endpoint?.stop();
      await server?.stop(10_000);
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
