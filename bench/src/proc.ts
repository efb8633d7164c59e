/** Process measurements for the benchmarks (Linux /proc). */
import { readFileSync } from 'node:fs';

/** CPU time (user + system) a process has used, in microseconds; undefined off Linux. */
export function cpuMicros(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000; // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return undefined;
  }
}
