import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { startNatsServer, tempDir, type NatsServer } from '@lambdastore/testkit';
import { lambdastore, decodeArgs, encodeResult, shardOf, subjects } from '@lambdastore/proto';
import { run } from '../src/cli.js';

const S = subjects('clitest');
const NUM_SHARDS = 4;
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

interface Captured {
  code: number;
  out: string;
  err: string;
}

describe('lambdastore CLI against a real nats-server', function () {
  this.timeout(20_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: { path: string; cleanup: () => Promise<void> };
  const subs: Subscription[] = [];
  const received: lambdastore.InvokeRequest[] = [];
  const deploys: lambdastore.DeployRequest[] = [];
  const balances = new Map<string, number>();

  const config = lambdastore.ClusterConfig.create({
    version: 3,
    numShards: NUM_SHARDS,
    clusterId: 'cli-test',
    shards: Array.from({ length: NUM_SHARDS }, (_, i) => ({ shard: i, chain: ['w1'], epoch: 1 })),
    workers: [{ id: 'w1', alive: true, callsTotal: 77, pid: 1234 }],
    types: [{ name: 'Account', version: 2, methods: [{ name: 'balance', readonly: true }, { name: 'deposit' }] }],
  });

  // A scripted worker for Account on every shard subject, and a scripted coordinator.
  function answer(req: lambdastore.InvokeRequest): lambdastore.InvokeResponse.$Properties {
    const id = req.target!.id!;
    const args = decodeArgs(req.args, req.argsEncoding);
    const okv = (v: unknown) => {
      const e = encodeResult(v);
      return { ok: true, result: e.bytes, resultEncoding: e.encoding };
    };
    if (req.create) {
      if (balances.has(id)) return { ok: false, error: { code: 'OBJECT_EXISTS', message: `Account ${id} exists` } };
      balances.set(id, (args[0] as number | undefined) ?? 0);
      return okv(undefined);
    }
    if (!balances.has(id)) return { ok: false, error: { code: 'OBJECT_NOT_FOUND', message: `no Account ${id}` } };
    switch (req.method) {
      case 'deposit':
        balances.set(id, balances.get(id)! + (args[0] as number));
        return okv(balances.get(id));
      case 'balance':
        return okv(balances.get(id));
      case 'echo':
        return okv(args);
      case 'withdraw':
        return { ok: false, error: { code: 'INSUFFICIENT_FUNDS', message: 'not enough money', retryable: false } };
      default:
        return { ok: false, error: { code: 'UNKNOWN_METHOD', message: `Account has no method ${req.method}` } };
    }
  }

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    dir = await tempDir('lambdastore-cli-test-');
    for (let s = 0; s < NUM_SHARDS; s++) {
      subs.push(
        nc.subscribe(S.shardInvoke(s), {
          callback: (err, msg) => {
            if (err) return;
            const req = lambdastore.InvokeRequest.decode(msg.data);
            received.push(req);
            expect(shardOf('Account', req.target!.id!, NUM_SHARDS)).to.equal(s);
            msg.respond(lambdastore.InvokeResponse.encode(answer(req)).finish());
          },
        }),
      );
    }
    subs.push(
      nc.subscribe(S.adminConfig, {
        callback: (_e, msg) => {
          msg.respond(lambdastore.ConfigResponse.encode({ ok: true, config }).finish());
        },
      }),
      nc.subscribe(S.adminDeploy, {
        callback: (_e, msg) => {
          const req = lambdastore.DeployRequest.decode(msg.data);
          deploys.push(req);
          const resp: lambdastore.DeployResponse.$Properties = req.source.includes('defineType')
            ? { ok: true, moduleId: 'abc123', types: [{ name: 'Thing', version: 1, moduleId: 'abc123', methods: [{ name: 'get', readonly: true }, { name: 'set' }] }] }
            : { ok: false, error: { code: 'DEPLOY_INVALID', message: 'the module defines no types' } };
          msg.respond(lambdastore.DeployResponse.encode(resp).finish());
        },
      }),
    );
    await nc.flush();
  });
  after(async () => {
    for (const s of subs) s.unsubscribe();
    await nc?.close();
    await nats?.stop();
    await dir?.cleanup();
  });

  async function cli(...argv: string[]): Promise<Captured> {
    let out = '';
    let err = '';
    const code = await run(argv, {
      stdout: (t) => (out += t.endsWith('\n') ? t : `${t}\n`),
      stderr: (t) => (err += t.endsWith('\n') ? t : `${t}\n`),
      env: {},
      cwd: dir.path,
    });
    return { code, out, err };
  }
  const conn = () => ['--nats', nats.url, '--prefix', S.prefix];

  it('create, then invoke prints the result as JSON on stdout', async () => {
    expect(await cli('create', 'Account', 'alice', '100', ...conn())).to.deep.include({ code: 0, out: '' });
    const r = await cli('invoke', 'Account', 'alice', 'deposit', '25', ...conn());
    expect(r).to.deep.equal({ code: 0, out: '125\n', err: '' });
    expect((await cli('invoke', ...conn(), 'Account', 'alice', 'balance')).out).to.equal('125\n');
  });

  it('json args fall back to plain strings; negative numbers stay arguments', async () => {
    await cli('create', 'Account', 'bob', ...conn());
    const r = await cli('invoke', 'Account', 'bob', 'echo', '{"to":"alice","amount":5}', 'alice', '-3', '[1,2]', ...conn());
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.out)).to.deep.equal([{ to: 'alice', amount: 5 }, 'alice', -3, [1, 2]]);
  });

  it('--key is the idempotency key; --timeout-ms reaches the request', async () => {
    await cli('invoke', 'Account', 'alice', 'balance', '--key', 'cli-key-1', '--timeout-ms', '4000', ...conn());
    const last = received.at(-1)!;
    expect(last.idempotencyKey).to.equal('cli-key-1');
    expect(last.timeoutMs).to.be.within(1, 4000);
  });

  it('errors print `error CODE: message` on stderr and exit 1', async () => {
    expect(await cli('invoke', 'Account', 'alice', 'withdraw', '1000', ...conn())).to.deep.equal({ code: 1, out: '', err: 'error INSUFFICIENT_FUNDS: not enough money\n' });
    expect((await cli('invoke', 'Account', 'nobody', 'balance', ...conn())).err).to.equal('error OBJECT_NOT_FOUND: no Account nobody\n');
    expect((await cli('create', 'Account', 'alice', ...conn())).err).to.equal('error OBJECT_EXISTS: Account alice exists\n');
  });

  it('usage errors exit 2', async () => {
    for (const argv of [[], ['invoke', 'Account', 'alice'], ['frob'], ['status', '--bogus'], ['status', 'extra'], ['create', 'A', 'a', '--key', 'k'], ['invoke', 'A', 'a', 'm', '--timeout-ms', 'soon']]) {
      const r = await cli(...argv, ...conn());
      expect(r.code, argv.join(' ')).to.equal(2);
      expect(r.err).to.match(/^lambdastore: /);
    }
    const h = await cli('help');
    expect(h.code).to.equal(0);
    expect(h.out).to.include('usage: lambdastore');
  });

  it('status shows workers, shards and types', async () => {
    const r = await cli('status', ...conn());
    expect(r.code).to.equal(0);
    expect(r.out).to.include('cluster cli-test  config v3  4 shards (4 assigned)');
    expect(r.out).to.match(/^w1\s+yes\s+0-3\s+77\s+0\s+0\s+0\/0\s+1234$/m);
    expect(r.out).to.match(/^Account\s+v2\s+balance \(ro\), deposit$/m);
  });

  it('deploy bundles the file and prints the types; a bad module fails with its code', async () => {
    await writeFile(join(dir.path, 'thing.js'), "const defineType = (n, m) => ({ __lambdastoreType: 1, name: n, methods: m });\nmodule.exports = defineType('Thing', { get() {}, set() {} });\n");
    const r = await cli('deploy', 'thing.js', ...conn());
    expect(r).to.deep.include({ code: 0, err: '' });
    expect(r.out).to.equal('deployed Thing v1 (module abc123): get (ro), set\n');
    expect(deploys.at(-1)!.filename).to.equal('thing.js');

    await writeFile(join(dir.path, 'empty.js'), 'module.exports = {};\n');
    expect((await cli('deploy', 'empty.js', ...conn())).err).to.equal('error DEPLOY_INVALID: the module defines no types\n');
    const broken = await cli('deploy', 'missing.ts', ...conn());
    expect(broken.code).to.equal(1);
    expect(broken.err).to.match(/^error DEPLOY_INVALID: .*missing\.ts/);
  });

  it('finds the cluster through <data>/cluster.json', async () => {
    await mkdir(join(dir.path, 'devdata'), { recursive: true });
    await writeFile(join(dir.path, 'devdata', 'cluster.json'), JSON.stringify({ natsUrl: nats.url, prefix: S.prefix, pid: process.pid }));
    expect((await cli('invoke', 'Account', 'alice', 'balance', '--data', 'devdata')).out).to.equal('125\n');
    expect((await cli('invoke', 'Account', 'alice', 'balance')).code).to.equal(2);
  });

  it('an unreachable NATS server fails with exit 1, not a hang', async () => {
    const r = await cli('status', '--nats', 'nats://127.0.0.1:1', '--timeout-ms', '1000');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/^error \w+: cannot connect to NATS/);
  });

  it('the built executable runs and exits with the command\'s code', async () => {
    const exec = promisify(execFile);
    const ok = await exec(process.execPath, [MAIN, 'invoke', 'Account', 'alice', 'balance', ...conn()], { timeout: 15_000 });
    expect(ok.stdout).to.equal('125\n');
    try {
      await exec(process.execPath, [MAIN, 'invoke', 'Account', 'alice', 'withdraw', '1', ...conn()], { timeout: 15_000 });
      expect.fail('should exit 1');
    } catch (err) {
      const e = err as { code: number; stderr: string };
      expect(e.code).to.equal(1);
      expect(e.stderr).to.equal('error INSUFFICIENT_FUNDS: not enough money\n');
    }
  });
});
