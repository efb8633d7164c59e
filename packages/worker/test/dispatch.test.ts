import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { tempDir } from '@lambdastore/testkit';
import { encodeArgs, decodeResult } from '@lambdastore/proto';
import { TaskDispatcher } from '../src/dispatch.js';
import { packEntries } from '../src/snapshot.js';
import type { ExecTask } from '../src/task.js';

const THREAD = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'thread.js');
const MODULE = `module.exports.default = { __lambdastoreType: 1, name: 'W', methods: {
  echo(ctx, x) { return x; },
  busy(ctx, ms) { const end = Date.now() + ms; while (Date.now() < end) {} return ms; },
  spin() { for (;;) {} },
}};`;

describe('task dispatcher (real Piscina threads)', function () {
  this.timeout(20_000);
  let dir: { path: string; cleanup: () => Promise<void> };
  let modulePath: string;
  let pool: Piscina;
  before(async () => {
    dir = await tempDir('ls-dispatch-');
    modulePath = join(dir.path, 'w.js');
    await writeFile(modulePath, MODULE);
  });
  beforeEach(() => { pool = new Piscina({ filename: THREAD, minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 1 }); });
  afterEach(async () => { await pool.destroy(); });
  after(async () => { await dir.cleanup(); });

  const task = (method: string, args: unknown[]): ExecTask => {
    const a = encodeArgs(args);
    return { modulePath, moduleId: 'w1', type: 'W', id: 'x', method, args: a.bytes, argsEncoding: a.encoding, readonly: true, create: false, snapshot: packEntries(new Map()), maxValueBytes: 1024, channel: 'unused' };
  };

  it('batches waiting calls and aborts only the one that runs away', async () => {
    const d = new TaskDispatcher(pool, 1, 8);
    const calls = [d.run(task('busy', [50]), 1000, [])]; // occupies the thread while the rest queue
    // the spinner gets a short limit; the echoes a long one, because the calls after the spinner run on
    // a fresh thread that first loads the module (slow on a busy machine)
    for (let i = 0; i < 6; i++) calls.push(i === 3 ? d.run(task('spin', []), 300, []) : d.run(task('echo', [i]), 10_000, []));
    const results = await Promise.all(calls);
    expect(results[0]!.value?.ok).to.equal(true);
    results.slice(1).forEach((r, i) => {
      if (i === 3) expect(r.timedOut, 'the spinner').to.equal(true);
      else {
        expect(r.timedOut, `call ${i}`).to.equal(false);
        expect(decodeResult(r.value!.result, r.value!.resultEncoding), `call ${i}`).to.equal(i);
      }
    });
    expect(d.batches).to.be.lessThan(d.batchedCalls);
  });

  it('starts a call’s time limit when the call starts, not while it waits in its batch', async () => {
    const d = new TaskDispatcher(pool, 1, 8);
    const first = d.run(task('busy', [20]), 1000, []);
    // three calls of 150 ms each with a 250 ms limit: together 450 ms, each well within its own limit
    const rest = [0, 1, 2].map(() => d.run(task('busy', [150]), 250, []));
    const results = await Promise.all([first, ...rest]);
    for (const r of results) expect(r.timedOut).to.equal(false);
    expect(results.map((r) => decodeResult(r.value!.result, r.value!.resultEncoding))).to.deep.equal([20, 150, 150, 150]);
  });

  it('lets writers of one object take turns, readers never wait', async () => {
    const d = new TaskDispatcher(pool, 1, 8);
    const order: string[] = [];
    const r1 = await d.writeTurn('obj');
    expect(r1.waited).to.equal(false);
    const second = d.writeTurn('obj').then((r) => { order.push(`second${r.waited ? ' (waited)' : ''}`); r.release(); });
    const other = d.writeTurn('other').then((r) => { order.push(`other${r.waited ? ' (waited)' : ''}`); r.release(); });
    await other;
    order.push('first done');
    r1.release();
    await second;
    expect(order).to.deep.equal(['other', 'first done', 'second (waited)']);
  });
});
