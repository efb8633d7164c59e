/**
 * A bank account: the smallest object type with an invariant worth checking. `npm start` runs
 * concurrent deposits and withdrawals against 1,000 of these and checks that the sum of balances
 * equals what was acknowledged, and that no balance went negative.
 *
 *   lambdastore deploy examples/bank/account.ts
 *   lambdastore create Account alice 100
 *   lambdastore invoke Account alice withdraw 30
 *   lambdastore invoke Account alice transfer bob 20
 */
import { AppError, defineType, type Ctx } from '@lambdastore/sdk';

function checkAmount(amount: unknown, what: string): number {
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
    throw new AppError('INVALID_AMOUNT', `${what} must be a positive finite number, got ${JSON.stringify(amount)}`);
  }
  return amount;
}

async function balanceOf(ctx: Ctx): Promise<number> {
  return (await ctx.get<number>('balance')) ?? 0;
}

export default defineType('Account', {
  async init(ctx: Ctx, initial: number = 0) {
    if (initial !== 0) checkAmount(initial, 'initial balance');
    ctx.put('balance', initial);
  },

  balance: {
    readonly: true,
    async run(ctx: Ctx): Promise<number> {
      return balanceOf(ctx);
    },
  },

  /** Adds `amount`; returns the new balance. */
  async deposit(ctx: Ctx, amount: number): Promise<number> {
    const add = checkAmount(amount, 'deposit amount');
    const next = (await balanceOf(ctx)) + add;
    ctx.put('balance', next);
    return next;
  },

  /** Takes `amount` out; fails with INSUFFICIENT_FUNDS (balance unchanged) when it is not there. */
  async withdraw(ctx: Ctx, amount: number): Promise<number> {
    const take = checkAmount(amount, 'withdrawal amount');
    const current = await balanceOf(ctx);
    if (current < take) {
      throw new AppError('INSUFFICIENT_FUNDS', `balance ${current} is less than ${take}`);
    }
    const next = current - take;
    ctx.put('balance', next);
    return next;
  },

  /**
   * Moves `amount` to account `to`, wherever it lives: the withdrawal here and the deposit there are
   * one transaction (nested call), so money is never created or lost.
   */
  async transfer(ctx: Ctx, to: string, amount: number): Promise<number> {
    const take = checkAmount(amount, 'transfer amount');
    if (to === ctx.self.id) throw new AppError('SAME_ACCOUNT', 'cannot transfer to the same account');
    const current = await balanceOf(ctx);
    if (current < take) throw new AppError('INSUFFICIENT_FUNDS', `balance ${current} is less than ${take}`);
    ctx.put('balance', current - take);
    await ctx.invoke({ type: 'Account', id: to }, 'deposit', take);
    return current - take;
  },
});
