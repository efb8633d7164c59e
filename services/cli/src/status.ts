/**
 * `lambdastore status`: the cluster map as readable tables. Pure formatting of a ClusterConfig.
 */
import type { ClusterConfig } from '@lambdastore/client';

/** Left-aligned columns separated by two spaces; the header row is upper case. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n');
}

/** [0,1,2,3,5,7,8] -> "0-3,5,7-8". */
export function ranges(values: readonly number[]): string {
  const v = [...new Set(values)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < v.length; ) {
    let j = i;
    while (j + 1 < v.length && v[j + 1] === v[j]! + 1) j++;
    out.push(j === i ? String(v[i]) : `${v[i]}-${v[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

export function formatStatus(cfg: ClusterConfig): string {
  const shards = [...(cfg.shards ?? [])].sort((a, b) => (a.shard ?? 0) - (b.shard ?? 0));
  const shardsOf = new Map<string, number[]>();
  for (const s of shards) {
    for (const w of s.chain ?? []) {
      let list = shardsOf.get(w);
      if (!list) shardsOf.set(w, (list = []));
      list.push(s.shard ?? 0);
    }
  }
  const workers = [...(cfg.workers ?? [])].sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
  const types = [...(cfg.types ?? [])].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
  const assigned = shards.filter((s) => (s.chain?.length ?? 0) > 0).length;
  const alive = workers.filter((w) => w.alive).length;

  const out: string[] = [];
  out.push(
    `cluster ${cfg.clusterId || '-'}  config v${cfg.version ?? 0}  ${cfg.numShards ?? 0} shards (${assigned} assigned)  ` +
      `${alive}/${workers.length} workers alive  ${types.length} types`,
  );
  out.push('', 'Workers');
  out.push(
    workers.length === 0
      ? '  (none)'
      : table(
          ['id', 'alive', 'shards', 'calls', 'inflight', 'aborts', 'splits/merges', 'pid'],
          workers.map((w) => [
            w.id ?? '',
            w.alive ? 'yes' : 'NO',
            ranges(shardsOf.get(w.id ?? '') ?? []) || '-',
            String(w.callsTotal ?? 0),
            String(w.inflight ?? 0),
            String(w.abortsTotal ?? 0),
            `${w.entrySetSplits ?? 0}/${w.entrySetMerges ?? 0}`,
            w.pid ? String(w.pid) : '-',
          ]),
        ),
  );
  out.push('', 'Shards');
  out.push(
    shards.length === 0
      ? '  (none assigned yet)'
      : table(
          ['shard', 'chain', 'epoch'],
          shards.map((s) => [String(s.shard ?? 0), (s.chain ?? []).join(' -> ') || '(unassigned)', String(s.epoch ?? 0)]),
        ),
  );
  out.push('', 'Types');
  out.push(
    types.length === 0
      ? '  (none deployed)'
      : table(
          ['name', 'version', 'methods'],
          types.map((t) => [
            t.name ?? '',
            `v${t.version ?? 0}`,
            (t.methods ?? []).map((m) => (m.readonly ? `${m.name} (ro)` : (m.name ?? ''))).join(', ') || '-',
          ]),
        ),
  );
  return out.join('\n');
}
