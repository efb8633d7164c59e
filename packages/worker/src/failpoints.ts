/**
 * Fault injection for tests, off unless `LAMBDASTORE_FAILPOINTS` names a point. Like etcd's
 * gofail: a named place in the code where a test widens a race window, so that a real SIGKILL
 * lands inside it every time instead of by luck. Format: `name=value[,name=value...]`.
 *
 *   prepared.hold=<ms>   a 2PC participant waits this long after its prepare record is durable
 *                        before it votes YES (a kill then leaves a prepared part to recover)
 */
const KNOWN = new Set(['prepared.hold']);

export function parseFailpoints(spec: string | undefined): Map<string, number> {
  const points = new Map<string, number>();
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=', 2).map((s) => s.trim());
    const n = Number(value);
    if (!name || !KNOWN.has(name) || value === undefined || !Number.isFinite(n) || n < 0) {
      throw new Error(`LAMBDASTORE_FAILPOINTS: bad item "${item}" (known: ${[...KNOWN].map((k) => `${k}=<ms>`).join(', ')})`);
    }
    points.set(name, n);
  }
  return points;
}

/** The failpoints of this process (read once). */
export const failpoints: ReadonlyMap<string, number> = parseFailpoints(process.env.LAMBDASTORE_FAILPOINTS);
