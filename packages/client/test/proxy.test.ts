/**
 * The typed proxy: this file is also the compile-time check. `tsc -b` fails if
 * `client.object(AccountDef, id).deposit(5)` stops type-checking or a wrong call starts to.
 */
import { expect } from 'chai';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '@lambdastore/testkit';
import { decodeArgs, subjects } from '@lambdastore/proto';
import { defineType, type Ctx } from '@lambdastore/sdk';
import { connect, type LambdaStoreClient } from '../src/index.js';
import { FakeWorker, ok, peer } from './helpers.js';

const AccountDef = defineType('Account', {
  init: async (ctx: Ctx, opening: number) => ctx.put('balance', opening),
  balance: { readonly: true, async run(ctx: Ctx) { return (await ctx.get<number>('balance')) ?? 0; } },
  async deposit(ctx: Ctx, amount: number) {
    const b = ((await ctx.get<number>('balance')) ?? 0) + amount;
    ctx.put('balance', b);
    return b;
  },
  async transfer(_ctx: Ctx, arg: { to: string; amount: number }) {
    return arg.amount;
  },
});

describe('typed proxies', function () {
  this.timeout(20_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  let client: LambdaStoreClient;
  let w: FakeWorker;

  before(async () => {
    nats = await startNatsServer();
    nc = await peer(nats.url);
    w = new FakeWorker(nc, (req) => {
      const args = decodeArgs(req.args, req.argsEncoding);
      return ok(req.method === 'deposit' ? 100 + (args[0] as number) : req.method === 'balance' ? 7 : args);
    }).listen(subjects().invoke);
    await nc.flush();
    client = await connect({ servers: nats.url });
  });
  after(async () => {
    await client?.close();
    w?.stop();
    await nc?.close();
    await nats?.stop();
  });

  it('client.object(def, id) calls methods with typed args and results', async () => {
    const acct = client.object(AccountDef, 'alice');
    const after: number = await acct.deposit(5);
    expect(after).to.equal(105);
    const bal: number = await acct.balance();
    expect(bal).to.equal(7);
    await acct.transfer({ to: 'bob', amount: 2 });
    const last = w.received.at(-1)!.req;
    expect(last.target!.id).to.equal('alice');
    expect(decodeArgs(last.args, last.argsEncoding)).to.deep.equal([{ to: 'bob', amount: 2 }]);

    if (Date.now() < 0) {
      // Never runs: compile-time checks only.
      // @ts-expect-error deposit takes a number
      await acct.deposit('five');
      // @ts-expect-error no such method
      await acct.withdraw(1);
      // @ts-expect-error init is not callable through the proxy
      await acct.init(1);
      // @ts-expect-error create takes init's args
      await client.create(AccountDef, 'x', 'not a number');
    }
  });

  it('client.object<typeof Def>(name, id) gives the same typing', async () => {
    const acct = client.object<typeof AccountDef>('Account', 'bob');
    expect(await acct.deposit(1)).to.equal(101);
    expect(w.received.at(-1)!.req.target!.type).to.equal('Account');
    expect(w.received.at(-1)!.req.method).to.equal('deposit');
  });

  it('the proxy is not thenable, so it can be returned from async functions', async () => {
    const acct = await Promise.resolve(client.object(AccountDef, 'carol'));
    expect((acct as unknown as { then?: unknown }).then).to.equal(undefined);
    expect(acct.deposit).to.equal(acct.deposit);
  });

  it('create with a TypeDef passes init args', async () => {
    await client.create(AccountDef, 'dave', 50);
    const last = w.received.at(-1)!.req;
    expect(last.create).to.equal(true);
    expect(decodeArgs(last.args, last.argsEncoding)).to.deep.equal([50]);
  });
});
