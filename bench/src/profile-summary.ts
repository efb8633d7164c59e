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

/** Coarse buckets of where a worker's main thread spends its time, by the function's source. */
const CATEGORIES: Array<[string, (name: string, url: string) => boolean]> = [
  ['garbage collection', (n) => n === '(garbage collector)'],
  ['thread hop (Piscina: postMessage, structured clone)', (n, u) => /piscina|worker_threads|internal\/worker/.test(u) || n === 'postMessage'],
  ['NATS client and socket I/O', (n, u) => /@nats-io|node:net|stream_base|internal\/streams/.test(u) || n === 'writeBuffer' || n === 'writev' || n === 'writeUtf8String'],
  ['protobuf', (_n, u) => /protobufjs|packages\/proto/.test(u)],
  ['LevelDB', (_n, u) => /classic-level|abstract-level|packages\/storage/.test(u)],
  ['LambdaStore worker and transactions', (_n, u) => /packages\/(worker|txn|sdk)/.test(u)],
  ['other Node internals and (program)', () => true],
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
  categories: Array<{ name: string; share: number }>;
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
      const category = CATEGORIES.find(([, test]) => test(name, n.callFrame.url))![0];
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
  const categories = [...byCategory].sort((a, b) => b[1] - a[1]).map(([name, hits]) => ({ name, share: busy ? hits / busy : 0 }));
  return { rows, categories, busyShare: total ? busy / total : 0, samples: total };
}
