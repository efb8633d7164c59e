/**
 * Chain membership decisions (pure functions over the shard map), used by ClusterModel:
 *
 * - all shards a worker heads share one chain and one epoch (a *group*), because the head orders
 *   all of its commits in one stream and a commit may touch several of its shards;
 * - a dead or restarted worker leaves every chain it shares with another member (its successor
 *   becomes head where it was head); a chain never loses its last member, whose data is the only copy;
 * - chains shorter than the replication factor take alive workers as new tails (which then receive
 *   a state transfer from their predecessor before they acknowledge anything).
 *
 * Every chain that changes gets `epoch` (the config version that carries the change).
 */
import type { ShardAssignmentData } from './cluster-model.js';

/** Takes `worker` out of every chain it shares with another member. Returns true when anything changed. */
export function removeFromChains(shards: Iterable<ShardAssignmentData>, worker: string, epoch: number): boolean {
  let changed = false;
  for (const s of shards) {
    if (s.chain.length > 1 && s.chain.includes(worker)) {
      s.chain = s.chain.filter((w) => w !== worker);
      s.epoch = epoch;
      changed = true;
    }
  }
  return changed;
}

/**
 * Makes every shard of one head carry the same chain: the members common to all of them, in the
 * order of the head's longest-standing chain (members left out only lose a copy; nothing is lost).
 */
export function unifyGroups(shards: Iterable<ShardAssignmentData>, epoch: number): boolean {
  const byHead = new Map<string, ShardAssignmentData[]>();
  for (const s of shards) {
    const head = s.chain[0];
    if (head !== undefined) byHead.set(head, [...(byHead.get(head) ?? []), s]);
  }
  let changed = false;
  for (const group of byHead.values()) {
    const sameChain = group.every((s) => sameList(s.chain, group[0]!.chain));
    if (sameChain && group.every((s) => s.epoch === group[0]!.epoch)) continue;
    const base = [...group].sort((a, b) => a.epoch - b.epoch || a.shard - b.shard)[0]!.chain;
    const common = base.filter((w) => group.every((s) => s.chain.includes(w)));
    for (const s of group) {
      if (!sameList(s.chain, common) || s.epoch !== epoch) {
        s.chain = [...common];
        s.epoch = epoch;
        changed = true;
      }
    }
  }
  return changed;
}

/**
 * Appends eligible workers as tails of every group shorter than `length`: the next ones after the
 * head in sorted order, so groups spread their tails over the cluster.
 */
export function fillChains(shards: Iterable<ShardAssignmentData>, eligible: readonly string[], length: number, epoch: number): boolean {
  const byHead = new Map<string, ShardAssignmentData[]>();
  for (const s of shards) {
    const head = s.chain[0];
    if (head !== undefined) byHead.set(head, [...(byHead.get(head) ?? []), s]);
  }
  const sorted = [...eligible].sort();
  let changed = false;
  for (const [head, group] of [...byHead.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const chain = [...group[0]!.chain];
    if (chain.length >= length) continue;
    const start = sorted.findIndex((w) => w > head);
    const ring = start < 0 ? sorted : [...sorted.slice(start), ...sorted.slice(0, start)];
    for (const w of ring) {
      if (chain.length >= length) break;
      if (!chain.includes(w)) chain.push(w);
    }
    if (chain.length === group[0]!.chain.length) continue;
    for (const s of group) {
      s.chain = [...chain];
      s.epoch = epoch;
    }
    changed = true;
  }
  return changed;
}

/** Initial chains: heads round robin over the workers, each followed by the next ones in order. */
export function initialChains(numShards: number, workers: readonly string[], length: number, epoch: number): ShardAssignmentData[] {
  const sorted = [...workers].sort();
  const len = Math.min(length, sorted.length);
  const out: ShardAssignmentData[] = [];
  for (let shard = 0; shard < numShards; shard++) {
    const h = shard % sorted.length;
    out.push({ shard, chain: Array.from({ length: len }, (_, k) => sorted[(h + k) % sorted.length]!), epoch });
  }
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
