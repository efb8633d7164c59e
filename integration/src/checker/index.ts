/**
 * Serializability checker for recorded histories (Adya's dependency graph, the Elle approach):
 * registers with unique writes (+ optional version-order hints) and list-append keys.
 *
 * checkHistory indexes the history (history.ts), derives per-key version orders and checks the
 * values observed (versions.ts), builds ww/wr/rw(/rt) edges and detects lost updates (edges.ts),
 * then finds and names dependency cycles (classify.ts, scc.ts).
 */
import { findCycleAnomalies } from './classify.js';
import { buildGraph } from './edges.js';
import { indexHistory } from './history.js';
import { Reporter, formatReport } from './report.js';
import type { CheckOptions, CheckResult, History } from './types.js';
import { buildOrders } from './versions.js';

export type {
  Anomaly,
  AnomalyKind,
  AppendOp,
  CheckOptions,
  CheckResult,
  CheckStats,
  CycleKind,
  CycleStep,
  EdgeKind,
  History,
  Op,
  ReadOp,
  Txn,
  TxnStatus,
  WriteOp,
} from './types.js';
export { formatReport };

export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const rep = new Reporter(options.maxAnomaliesPerKind ?? 100);
  const ix = indexHistory(history, options.versionOrder, rep);
  const orders = buildOrders(ix, options.versionOrder, rep);
  const g = buildGraph(ix, orders, options.realtime ?? false, rep);
  for (const a of findCycleAnomalies(ix, g, options.realtime ?? false, options.cycleSearchBudget ?? 2_000_000)) rep.add(a);
  let txns = 0;
  for (const a of ix.analysed) txns += a;
  return {
    ok: rep.anomalies.length === 0 && rep.suppressed === 0,
    anomalies: rep.anomalies,
    stats: { txns, edges: g.edgeCount, promoted: ix.promoted, dropped: ix.dropped, suppressed: rep.suppressed },
  };
}
