/**
 * LambdaStore only: bank transfers (`Account.transfer`, a nested call, one transaction) across
 * shards, with the share of transfers that commit by two-phase commit and the attempts that
 * conflicted and ran again inside the worker (from worker heartbeats).
 */
import { forEachLimited, runClosedLoop } from '@lambdastore/cli';
import { lambdastore, shardOf } from '@lambdastore/proto';
import type { Section } from './section.js';

export const bankAcrossShards: Section = {
  title: 'LambdaStore bank transfers across shards',
  async run({ cfg, log, lambdaStore }) {
    const client = lambdaStore.client!;
    const nc = lambdaStore.nc!;
    const aborts = new Map<string, number>();
    const sub = nc.subscribe('lambdastore.hb', { callback: (_e, m) => { const hb = lambdastore.Heartbeat.decode(m.data); aborts.set(hb.workerId, Number(hb.abortsTotal)); } });
    const totalAborts = () => [...aborts.values()].reduce((a, b) => a + b, 0);
    const config = await client.config();
    const ownerOf = (id: string) => config.shards.find((x) => x.shard === shardOf('Account', id, config.numShards))?.chain?.[0];
    const rows: string[] = [];
    try {
      for (const accounts of [10, 1000]) {
        const ids = Array.from({ length: accounts }, (_, i) => `shards${accounts}-${i}`);
        const INITIAL = 1_000_000;
        await forEachLimited(ids, 32, async (id) => { await client.create('Account', id, INITIAL); });
        let cross = 0;
        let sent = 0;
        const transfer = () => {
          const a = ids[Math.floor(Math.random() * accounts)]!;
          let b = a;
          while (b === a) b = ids[Math.floor(Math.random() * accounts)]!;
          sent++;
          if (ownerOf(a) !== ownerOf(b)) cross++;
          return client.invoke('Account', a, 'transfer', [b, 1 + Math.floor(Math.random() * 10)]);
        };
        await runClosedLoop({ concurrency: cfg.concurrency, durationMs: cfg.warmupMs, call: transfer });
        await new Promise((r) => setTimeout(r, 1100)); // a heartbeat with the warm-up's totals
        const before = totalAborts();
        const result = await runClosedLoop({ concurrency: cfg.concurrency, durationMs: cfg.durationMs, call: transfer });
        await new Promise((r) => setTimeout(r, 1100));
        const abortsPerCall = (totalAborts() - before) / Math.max(1, result.calls);
        const balances = (await Promise.all(ids.map((id) => client.invoke('Account', id, 'balance')))) as number[];
        const total = balances.reduce((x, y) => x + y, 0);
        const audit = total === INITIAL * accounts ? `total unchanged (${total.toLocaleString('en-US')})` : `TOTAL CHANGED: ${total} != ${INITIAL * accounts}`;
        log(`  across shards, ${accounts} accounts: ${Math.round(result.callsPerSec)} transfers/s, re-runs per transfer ${abortsPerCall.toFixed(2)}, errors ${result.errors}; ${audit}`);
        rows.push(`| ${accounts.toLocaleString('en-US')} | ${Math.round(result.callsPerSec).toLocaleString('en-US')} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${Math.round((cross / Math.max(1, sent)) * 100)} % | ${abortsPerCall.toFixed(2)} | ${result.errors} | ${audit} |`);
      }
    } finally {
      sub.unsubscribe();
    }
    return `## LambdaStore bank transfers across shards

Random pairs, ${cfg.concurrency} transfers in flight, ${cfg.durationMs / 1000} s. A pair on two workers commits by two-phase
commit. "Re-runs" are transaction attempts that conflicted and ran again inside the worker (reported
by the workers); "errors" are transfers that failed for good (e.g. \`TXN_ABORTED\`).

| accounts | transfers/s | p50 ms | p99 ms | across workers | re-runs per transfer | errors | audit |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
  },
};
