/**
 * `lambdastore top` and the traffic part of `lambdastore status`: the coordinator's ops snapshot
 * (the dashboard's data, asked for over NATS) as terminal tables. Formatting is pure.
 */
import type { LambdaStoreClient } from '@lambdastore/client';
import { LambdaStoreError, subjects, type OpsSnapshot } from '@lambdastore/proto';
import { ranges, table } from './status.js';

/** The coordinator's ops snapshot; undefined when no coordinator answers that request. */
export async function fetchOps(client: LambdaStoreClient, prefix: string, timeoutMs: number): Promise<OpsSnapshot | undefined> {
  let data: Uint8Array;
  try {
    data = (await client.connection.request(subjects(prefix).adminOps, new Uint8Array(0), { timeout: timeoutMs })).data;
  } catch (err) {
    const e = err as { code?: string; name?: string };
    if (e.code === '503' || e.name === 'NoRespondersError') return undefined; // a coordinator without ops (older), or none
    throw new LambdaStoreError('COORDINATOR_UNAVAILABLE', `the coordinator did not send its ops snapshot within ${timeoutMs} ms`);
  }
  try {
    return JSON.parse(new TextDecoder().decode(data)) as OpsSnapshot;
  } catch (err) {
    throw new LambdaStoreError('INTERNAL', `the coordinator's ops snapshot is not JSON: ${(err as Error).message}`);
  }
}

const last = <T>(v: readonly T[]): T | undefined => v[v.length - 1];

/** Hot objects (and, in `full`, the busiest methods and abort reasons). */
export function formatTraffic(ops: OpsSnapshot, full = false): string {
  const out: string[] = ['Hot objects (calls/s over the last 10 s)'];
  out.push(ops.hot.length === 0 ? '  (no calls)' : table(['object', 'calls/s'], ops.hot.map((h) => [h.object, String(h.callsPerSec)])));
  if (full) {
    out.push('', 'Methods (calls/s over the last 10 s)');
    out.push(ops.methods.length === 0 ? '  (no calls)' : table(['type', 'method', 'outcome', 'calls/s'], ops.methods.map((m) => [m.type, m.method, m.outcome, String(m.callsPerSec)])));
    const aborts = Object.entries(ops.aborts);
    out.push('', `Aborts by reason: ${aborts.length === 0 ? 'none' : aborts.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  }
  return out.join('\n');
}

/** One screen of `lambdastore top`. */
export function formatTop(ops: OpsSnapshot): string {
  const c = ops.cluster;
  const s = ops.series;
  const p = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v} ms`);
  const alive = c.workers.filter((w) => w.alive).length;
  const out: string[] = [
    `cluster ${c.clusterId || '-'}  config v${c.configVersion}  ${c.numShards} shards  ${alive}/${c.workers.length} workers alive  ` +
      `${new Date(ops.atMs).toISOString().slice(11, 19)} UTC`,
    `calls ${last(s.calls) ?? 0}/s  errors ${last(s.errors) ?? 0}/s  aborts ${last(s.aborts) ?? 0}/s  p50 ${p(last(s.p50Ms))}  p99 ${p(last(s.p99Ms))}`,
    '',
    'Workers',
  ];
  const rate = new Map(ops.workers.map((w) => [w.workerId, w]));
  out.push(
    c.workers.length === 0
      ? '  (none)'
      : table(
          ['id', 'alive', 'head of', 'replica of', 'calls/s', 'queue', 'busy', 'chain lag'],
          c.workers.map((w) => {
            const m = rate.get(w.id);
            return [
              w.id,
              w.alive ? 'yes' : 'NO',
              ranges(w.heads) || '-',
              ranges(w.replicas) || '-',
              m ? String(m.callsPerSec) : '-',
              m ? String(m.queueDepth) : '-',
              m ? `${Math.round(m.threadUtilization * 100)}%` : '-',
              m?.chainLagMs !== undefined ? `${m.chainLagMs} ms` : '-',
            ];
          }),
        ),
  );
  out.push('', 'Shards (chain head first)');
  out.push(c.shards.length === 0 ? '  (none assigned yet)' : table(['shard', 'chain', 'epoch'], c.shards.map((sh) => [String(sh.shard), sh.chain.join(' -> ') || '(unassigned)', String(sh.epoch)])));
  out.push('', formatTraffic(ops, true));
  return out.join('\n');
}
