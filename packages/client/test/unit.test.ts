import { expect } from 'chai';
import { backoffDelayMs, nextDelayMs, DEFAULT_BACKOFF } from '../src/backoff.js';
import { newIdempotencyKey, checkIdempotencyKey } from '../src/keys.js';
import { RoutingTable } from '../src/routing.js';
import { shardOf } from '@lambdastore/proto';
import { makeConfig } from './helpers.js';

describe('backoff', () => {
  const opts = { baseMs: 10, maxMs: 1000 };

  it('grows exponentially within [cap/2, cap]', () => {
    expect(backoffDelayMs(1, opts, () => 0)).to.equal(5);
    expect(backoffDelayMs(1, opts, () => 1)).to.equal(10);
    expect(backoffDelayMs(2, opts, () => 1)).to.equal(20);
    expect(backoffDelayMs(4, opts, () => 0)).to.equal(40);
    expect(backoffDelayMs(4, opts, () => 1)).to.equal(80);
  });

  it('is capped by maxMs and never overflows', () => {
    expect(backoffDelayMs(20, opts, () => 1)).to.equal(1000);
    expect(backoffDelayMs(10_000, opts, () => 0.5)).to.equal(750);
    expect(Number.isFinite(backoffDelayMs(Number.MAX_SAFE_INTEGER, opts))).to.equal(true);
  });

  it('jitters: random delays of one retry spread over the range', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(6, DEFAULT_BACKOFF);
      expect(d).to.be.within(160, 320);
      seen.add(d);
    }
    expect(seen.size).to.be.greaterThan(20);
  });

  it('honours retryAfterMs as a lower bound', () => {
    expect(nextDelayMs(1, 300, 10_000, opts, () => 0)).to.equal(300);
    expect(nextDelayMs(1, 0, 10_000, opts, () => 1)).to.equal(10);
  });

  it('gives up when the wait would reach the deadline', () => {
    expect(nextDelayMs(1, 500, 400, opts, () => 0)).to.equal(undefined);
    expect(nextDelayMs(8, 0, 100, opts, () => 0)).to.equal(undefined);
    expect(nextDelayMs(1, 0, 100, opts, () => 0)).to.equal(5);
  });
});

describe('idempotency keys', () => {
  it('are 128 random bits as 32 hex characters', () => {
    const k = newIdempotencyKey();
    expect(k).to.match(/^[0-9a-f]{32}$/);
  });

  it('do not repeat, across pool refills', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 10_000; i++) keys.add(newIdempotencyKey());
    expect(keys.size).to.equal(10_000);
  });

  it('caller keys are checked', () => {
    expect(checkIdempotencyKey('k1')).to.equal(undefined);
    expect(checkIdempotencyKey('')).to.be.a('string');
    expect(checkIdempotencyKey('x'.repeat(257))).to.be.a('string');
  });
});

describe('RoutingTable', () => {
  it('routes to the ingress (-1) while no config is known', () => {
    const t = new RoutingTable();
    expect(t.route('Account', 'a')).to.deep.equal({ shard: -1, configVersion: 0, assigned: false });
    expect(t.version).to.equal(0);
  });

  it('routes by shardOf and knows which shards are assigned', () => {
    const t = new RoutingTable();
    expect(t.apply(makeConfig(3, 8, (s) => (s % 2 === 0 ? 'w1' : undefined)))).to.equal(true);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const r = t.route('Account', id);
      expect(r.shard).to.equal(shardOf('Account', id, 8));
      expect(r.configVersion).to.equal(3);
      expect(r.assigned).to.equal(r.shard % 2 === 0);
    }
    expect(t.route('Account', 'a', 5).shard).to.equal(5);
  });

  it('ignores configs that are not newer', () => {
    const t = new RoutingTable();
    t.apply(makeConfig(5, 4));
    expect(t.apply(makeConfig(4, 16))).to.equal(false);
    expect(t.apply(makeConfig(5, 16))).to.equal(false);
    expect(t.config!.numShards).to.equal(4);
    expect(t.apply(makeConfig(6, 16))).to.equal(true);
    expect(t.config!.numShards).to.equal(16);
  });
});
