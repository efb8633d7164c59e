/**
 * Loaded into the LambdaStore worker processes with `--import` (NODE_OPTIONS) by the bench: the
 * first SIGUSR2 starts the V8 CPU profiler, the next writes `<BENCH_PROFILE_DIR>/worker-<pid>.cpuprofile`.
 * (`--cpu-prof` itself is not allowed in NODE_OPTIONS, and it would profile the whole life of the
 * process, set-up included.) Does nothing in other processes or without BENCH_PROFILE_DIR.
 */
import { Session } from 'node:inspector';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_PROFILE_DIR;
const isWorker = /worker/.test(process.argv[1] ?? '') && !/coordinator/.test(process.argv[1] ?? '');
// Only the worker's main thread (NATS, dispatch, commits); method threads are V8 isolates of their own.
if (dir && isWorker && isMainThread) {
  let session: Session | undefined;
  process.on('SIGUSR2', () => {
    if (!session) {
      session = new Session();
      session.connect();
      session.post('Profiler.enable', () => session!.post('Profiler.start'));
      return;
    }
    const s = session;
    session = undefined;
    s.post('Profiler.stop', (err, res) => {
      s.disconnect();
      if (err) return;
      void writeFile(join(dir, `worker-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
