/**
 * The Restate SDK endpoint of the bench (its own process, like a deployed service):
 *   node restate-endpoint.js <port>
 * - virtual object `Micro`: `init` writes 100 entries of 1 KiB (binary state), `read` is a shared
 *   handler (concurrent reads), `write` an exclusive one; values computed like LambdaStore's method;
 * - virtual object `Account`: `transfer` takes the amount out of this account and sends the deposit
 *   to the other with a one-way durable call (a send, `objectSendClient`/`genericSend`), as Restate's docs advise for
 *   money moves between objects (a request-response call between two exclusive handlers can
 *   deadlock): the deposit is guaranteed to happen, but later: the two updates are not one
 *   isolated transaction, and a reader can see the money in flight.
 */
import http2 from 'node:http2';

// SDK 1.14+ calls Promise.withResolvers (Node 22) at the first invocation; Node 20 lacks it.
const P = Promise as unknown as { withResolvers?: unknown };
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};

const restate = await import('@restatedev/restate-sdk');
type ObjectContext = import('@restatedev/restate-sdk').ObjectContext;
type ObjectSharedContext = import('@restatedev/restate-sdk').ObjectSharedContext;
const { ENTRIES, VALUE_BYTES, entryKey, fillValue } = await import('./values.js');
const bin = restate.serde.binary;

const micro = restate.object({
  name: 'Micro',
  handlers: {
    init: async (ctx: ObjectContext) => {
      for (let i = 0; i < ENTRIES; i++) ctx.set(entryKey(i), fillValue(VALUE_BYTES, i + 1), bin);
    },
    read: restate.handlers.object.shared(async (ctx: ObjectSharedContext, entries: number[]) => {
      let n = 0;
      for (const e of entries) n += (await ctx.get<Uint8Array>(entryKey(e), bin))?.byteLength ?? 0;
      return n;
    }),
    write: async (ctx: ObjectContext, req: { entries: number[]; seed: number }) => {
      req.entries.forEach((e, i) => ctx.set(entryKey(e), fillValue(VALUE_BYTES, req.seed + i * 7919), bin));
      return req.entries.length * VALUE_BYTES;
    },
  },
});

const account = restate.object({
  name: 'Account',
  handlers: {
    init: async (ctx: ObjectContext, initial: number) => {
      ctx.set('balance', initial);
    },
    balance: restate.handlers.object.shared(async (ctx: ObjectSharedContext) => (await ctx.get<number>('balance')) ?? 0),
    deposit: async (ctx: ObjectContext, amount: number) => {
      ctx.set('balance', ((await ctx.get<number>('balance')) ?? 0) + amount);
    },
    transfer: async (ctx: ObjectContext, req: { to: string; amount: number }) => {
      const b = (await ctx.get<number>('balance')) ?? 0;
      if (b < req.amount) throw new restate.TerminalError('INSUFFICIENT_FUNDS');
      ctx.set('balance', b - req.amount);
      ctx.genericSend({ service: 'Account', method: 'deposit', key: req.to, parameter: req.amount, inputSerde: restate.serde.json });
    },
  },
});

const port = Number(process.argv[2]);
http2.createServer(restate.createEndpointHandler({ services: [micro, account] })).listen(port, '127.0.0.1', () => console.log('restate endpoint ready'));
