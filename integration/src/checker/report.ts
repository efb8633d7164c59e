/** Collecting anomalies (with a per-kind cap) and turning values and results into words. */
import type { Anomaly, AnomalyKind, CheckResult } from './types.js';

export class Reporter {
  readonly anomalies: Anomaly[] = [];
  suppressed = 0;
  private readonly perKind = new Map<AnomalyKind, number>();

  constructor(private readonly maxPerKind: number) {}

  add(a: Anomaly): void {
    const n = this.perKind.get(a.kind) ?? 0;
    this.perKind.set(a.kind, n + 1);
    // A broken run can yield thousands of copies of one anomaly; the first few tell the story.
    if (n >= this.maxPerKind) this.suppressed++;
    else this.anomalies.push(a);
  }
}

/** A register value for prose: null is the initial value. */
export function fmtValue(v: string | null): string {
  return v === null ? 'null (initial value)' : JSON.stringify(v);
}

/** A list for prose; long lists keep their tail, which is the part that matters for versions. */
export function fmtList(list: readonly string[]): string {
  const shown = list.length > 6 ? list.slice(-5) : list;
  const items = shown.map((e) => JSON.stringify(e)).join(', ');
  return list.length > 6 ? `[…${list.length - 5} more, ${items}]` : `[${items}]`;
}

/** A multi-line, human-readable report of a check result. */
export function formatReport(result: CheckResult): string {
  const { stats } = result;
  const head =
    `checked ${stats.txns} transactions, ${stats.edges} edges` +
    (stats.promoted ? `, ${stats.promoted} unknown promoted` : '') +
    (stats.dropped ? `, ${stats.dropped} unknown dropped` : '');
  if (result.ok) return `${head}: OK (serializable)`;
  const counts = new Map<string, number>();
  for (const a of result.anomalies) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${k} ×${n}`).join(', ');
  const lines = [
    `${head}: ${result.anomalies.length} anomalies (${summary})` +
      (stats.suppressed ? `, ${stats.suppressed} more suppressed` : ''),
  ];
  for (const a of result.anomalies) {
    lines.push(`- [${a.kind}] ${a.explanation}`);
    for (const s of a.cycle ?? []) {
      lines.push(`    ${s.from} -${s.edge}${s.key === undefined ? '' : `(${s.key})`}-> ${s.to}: ${s.explanation}`);
    }
  }
  return lines.join('\n');
}
