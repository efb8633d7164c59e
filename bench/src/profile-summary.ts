/**
 * Top self-time functions of V8 CPU profiles (.cpuprofile, from the profile hook in the
 * LambdaStore workers), merged across processes: where a worker's main thread spends its time.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/**
 * Coarse buckets of where a worker's main thread spends its time, by the function's source, each
 * with the fix it points to when it is the largest bucket (the report proposes it where a goal is
 * missed).
 */
interface Category {
  name: string;
  test: (name: string, url: string) => boolean;
  nextFix: string;
}
const CATEGORIES: Category[] = [
  {
    name: 'garbage collection',
    test: (n) => n === '(garbage collector)',
    nextFix: 'allocate less per call: reuse encode/decode buffers and reply writers, avoid per-call arrays and closures on the dispatch path',
  },
  {
    name: 'thread hop (Piscina: postMessage, structured clone)',
    test: (n, u) => /piscina|worker_threads|internal\/worker/.test(u) || n === 'postMessage',
    nextFix: 'stop paying two thread hops per call: batch the calls queued for a method thread into one postMessage, or run short read-only methods of trusted bundles on the main thread',
  },
  {
    name: 'NATS client and socket I/O',
    test: (n, u) => /@nats-io|node:net|stream_base|internal\/streams/.test(u) || n === 'writeBuffer' || n === 'writev' || n === 'writeUtf8String',
    nextFix: 'fewer, larger socket writes: coalesce the replies of one event-loop turn into one flush, and publish replies without per-message header objects',
  },
  {
    name: 'protobuf',
    test: (_n, u) => /protobufjs|packages\/proto/.test(u),
    nextFix: 'decode only what routing needs (object id, method) on the main thread and hand the raw arguments to the method thread; encode replies with a reused writer',
  },
  {
    name: 'LevelDB',
    test: (_n, u) => /classic-level|abstract-level|packages\/storage/.test(u),
    nextFix: 'keep hot objects in memory (read LevelDB once per object, not per call) and make group commits larger under load',
  },
  {
    name: 'LambdaStore worker and transactions',
    test: (_n, u) => /packages\/(worker|txn|sdk)/.test(u),
    nextFix: 'trim per-call bookkeeping in the worker (the top functions below say which): fewer maps and promises per call, version checks without copies',
  },
  {
    name: 'other Node internals and (program)',
    test: () => true,
    nextFix: 'native and event-loop work outside our code: profile with native frames (`perf`) to split it before changing code',
  },
];

export interface HotFunction {
  name: string;
  where: string;
  share: number;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const i = url.lastIndexOf('/node_modules/');
  if (i >= 0) return url.slice(i + '/node_modules/'.length);
  const m = url.match(/\/(packages|services)\/(.*)$/);
  return m ? `${m[1]}/${m[2]}` : url.replace(/^file:\/\//, '');
}

export interface ProfileSummary {
  rows: HotFunction[];
  /** Busy share per bucket, largest first, with the fix each points to. */
  categories: Array<{ name: string; share: number; nextFix: string }>;
  busyShare: number;
  samples: number;
}

export async function topSelfTime(files: string[], top = 15): Promise<ProfileSummary> {
  const byFn = new Map<string, { name: string; where: string; hits: number }>();
  const byCategory = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const f of files) {
    const p = JSON.parse(await readFile(f, 'utf8')) as CpuProfile;
    for (const n of p.nodes) {
      const hits = n.hitCount ?? 0;
      if (!hits) continue;
      total += hits;
      const name = n.callFrame.functionName || '(anonymous)';
      if (name === '(idle)') { idle += hits; continue; }
      const category = CATEGORIES.find((c) => c.test(name, n.callFrame.url))!.name;
      byCategory.set(category, (byCategory.get(category) ?? 0) + hits);
      const where = n.callFrame.url ? `${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : '';
      const key = `${name}@${where}`;
      const e = byFn.get(key) ?? { name, where, hits: 0 };
      e.hits += hits;
      byFn.set(key, e);
    }
  }
  const busy = total - idle;
  const rows = [...byFn.values()].sort((a, b) => b.hits - a.hits).slice(0, top).map((e) => ({ name: e.name, where: e.where, share: busy ? e.hits / busy : 0 }));
  const categories = [...byCategory].sort((a, b) => b[1] - a[1]).map(([name, hits]) => ({
    name,
    share: busy ? hits / busy : 0,
    nextFix: CATEGORIES.find((c) => c.name === name)!.nextFix,
  }));
  return { rows, categories, busyShare: total ? busy / total : 0, samples: total };
}
