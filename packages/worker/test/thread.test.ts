import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@lambdastore/testkit';
import { encodeArgs, decodeResult, ENCODING } from '@lambdastore/proto';
import { execute } from '../src/thread.js';
import { packEntries, PackedEntries } from '../src/snapshot.js';
import type { ExecTask } from '../src/task.js';

// A deployed module as the client bundles it: CommonJS, sdk inlined (here by hand).
const MODULE = `
const T = '__lambdastoreType';
class AppError extends Error { constructor(code, m) { super(m); this.name = 'AppError'; this.code = code; } }
module.exports.default = { [T]: 1, name: 'Box', methods: {
  init(ctx, v) { ctx.put('v', v ?? 0); },
  get: { readonly: true, async run(ctx) { return ctx.get('v'); } },
  async add(ctx, n) { const v = (await ctx.get('v')) ?? 0; ctx.put('v', v + n); return v + n; },
  sneakyWrite: { readonly: true, run(ctx) { ctx.put('v', 1); } },
  fail(ctx) { ctx.put('v', 999); throw new AppError('NOPE', 'refused'); },
  crash() { null.x; },
  spoof() { throw new AppError('TXN_ABORTED', 'pretending to be the platform'); },
  spoofPlain() { const e = new Error('busy'); e.code = 'OVERLOADED'; throw e; },
  rethrow(ctx) { try { ctx.put('', 1); } catch (e) { throw e; } },
  escape(ctx) { return ctx.get.constructor.constructor('return typeof process')(); },
  escape2(ctx) { return ctx.constructor.constructor('return typeof process')(); },
  globals() { return [typeof process, typeof require, typeof fetch, typeof setTimeout, typeof globalThis.Buffer]; },
  bytes(ctx, b) { ctx.put('raw', b); return ctx.get('raw'); },
  async scan(ctx) { ctx.put('b2', 1); ctx.delete('a'); return ctx.scan('', {}); },
  big(ctx) { ctx.put('big', 'x'.repeat(2000)); },
}};
`;

describe('method thread (sandbox + ctx)', function () {
  this.timeout(10_000);
  let dir: { path: string; cleanup: () => Promise<void> };
  let modulePath: string;
  before(async () => {
    dir = await tempDir('ls-thread-');
    modulePath = join(dir.path, 'm.js');
    await writeFile(modulePath, MODULE);
  });
  after(async () => { await dir.cleanup(); });

  const json = (v: unknown) => { const t = new TextEncoder().encode(JSON.stringify(v)); const o = new Uint8Array(t.length + 1); o[0] = 1; o.set(t, 1); return o; };
  const task = (method: string, args: unknown[], entries: Map<string, Uint8Array> = new Map(), extra: Partial<ExecTask> = {}): ExecTask => {
    const a = encodeArgs(args);
    return { modulePath, moduleId: 'm1', type: 'Box', id: 'b', method, args: a.bytes, argsEncoding: a.encoding, readonly: false, create: false, snapshot: packEntries(entries), maxValueBytes: 1000, channel: 'unused', ...extra };
  };
  const result = (r: Awaited<ReturnType<typeof execute>>) => decodeResult(r.result, r.resultEncoding);

  it('reads the shipped snapshot and buffers writes', async () => {
    const r = await execute(task('add', [5], new Map([['v', json(10)]])));
    expect(r.ok).to.equal(true);
    expect(result(r)).to.equal(15);
    expect(r.writes!.map(([k, v]) => [k, Buffer.from(v!.subarray(1)).toString()])).to.deep.equal([['v', '15']]);
  });

  it('runs init on create and treats a missing init as an empty object', async () => {
    const r = await execute(task('init', [7], new Map(), { create: true }));
    expect(r.writes!.length).to.equal(1);
    const none = await execute({ ...task('nosuch', []), create: true });
    expect(none).to.deep.equal({ ok: true, writes: [] });
  });

  it('refuses writes from a readonly method', async () => {
    const r = await execute(task('sneakyWrite', [], new Map(), { readonly: true }));
    expect(r.error?.code).to.equal('NOT_READONLY');
  });

  it('passes application error codes through and drops the writes', async () => {
    const r = await execute(task('fail', []));
    expect(r).to.deep.equal({ ok: false, error: { code: 'NOPE', message: 'refused' } });
  });

  it('does not let a method pose as the platform: a platform code it throws itself is METHOD_FAILED', async () => {
    for (const m of ['spoof', 'spoofPlain']) {
      const r = await execute(task(m, []));
      expect(r.error?.code, m).to.equal('METHOD_FAILED');
    }
    // A platform error the method let through keeps its code.
    const r = await execute(task('rethrow', []));
    expect(r.error?.code).to.equal('INVALID_ARGUMENT');
  });

  it('reports a throwing method as METHOD_FAILED', async () => {
    const r = await execute(task('crash', []));
    expect(r.error?.code).to.equal('METHOD_FAILED');
  });

  it('gives user code no process, require, fetch, timers or Buffer', async () => {
    const r = await execute(task('globals', []));
    expect(result(r)).to.deep.equal(['undefined', 'undefined', 'undefined', 'undefined', 'undefined']);
  });

  it('blocks escapes through the ctx object constructor chain', async () => {
    for (const m of ['escape', 'escape2']) {
      const r = await execute(task(m, []));
      expect(r.ok, m).to.equal(false);
      expect(r.error!.message).to.match(/Code generation from strings disallowed/);
    }
  });

  it('round-trips raw bytes', async () => {
    const r = await execute(task('bytes', [new Uint8Array([1, 2, 250])]));
    expect(r.resultEncoding).to.equal(ENCODING.RAW);
    expect([...r.result!]).to.deep.equal([1, 2, 250]);
  });

  it('scans in key order, including its own writes and deletes', async () => {
    const r = await execute(task('scan', [], new Map([['a', json(1)], ['b', json(2)], ['c', json(3)]])));
    expect(result(r)).to.deep.equal([['b', 2], ['b2', 1], ['c', 3]]);
  });

  it('reads the overlay of changes before the base snapshot, deletions included', async () => {
    const base = new Map([['a', json(1)], ['b', json(2)], ['c', json(3)]]);
    const overlay = packEntries(new Map<string, Uint8Array | null>([['a', null], ['b', json(20)], ['b1', json(15)]]));
    const r = await execute({ ...task('scan', [], base), overlay });
    // scan adds b2 and deletes a itself; the overlay already deleted a, changed b, added b1
    expect(result(r)).to.deep.equal([['b', 20], ['b1', 15], ['b2', 1], ['c', 3]]);
    const g = await execute({ ...task('add', [1], new Map([['v', json(1)]])), overlay: packEntries(new Map([['v', json(41)]])) });
    expect(result(g)).to.equal(42);
  });

  it('enforces the value size limit', async () => {
    const r = await execute(task('big', []));
    expect(r.error?.code).to.equal('PAYLOAD_TOO_LARGE');
  });

  it('rejects arguments that are not a JSON array', async () => {
    const r = await execute({ ...task('add', []), args: new TextEncoder().encode('{"a":1}') });
    expect(r.error?.code).to.equal('INVALID_ARGUMENT');
    const r2 = await execute({ ...task('add', []), args: new TextEncoder().encode('[1,') });
    expect(r2.error?.code).to.equal('INVALID_ARGUMENT');
  });
});

describe('snapshot packing', () => {
  it('finds every entry by binary search, in key-byte order, with deletion marks', () => {
    const entries = new Map<string, Uint8Array | null>([['z', new Uint8Array([9])], ['a', new Uint8Array([1, 2])], ['ключ', new Uint8Array([3])], ['gone', null], ['\u{1F600}', new Uint8Array([4])], ['\uffee', new Uint8Array([5])]]);
    const packed = new PackedEntries(packEntries(entries));
    expect(packed.count).to.equal(6);
    for (const [k, v] of entries) {
      const got = packed.get(k);
      if (v === null) expect(got, k).to.equal(null);
      else expect([...got!], k).to.deep.equal([...v]);
    }
    expect(packed.get('b')).to.equal(undefined);
    expect(packed.get('')).to.equal(undefined);
    const keys = [...packed.keys()].map(([k]) => k);
    expect(keys).to.deep.equal([...entries.keys()].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect([...packed.keys()].filter(([, deleted]) => deleted).map(([k]) => k)).to.deep.equal(['gone']);
  });

  it('handles an empty object', () => {
    const packed = new PackedEntries(packEntries(new Map()));
    expect(packed.count).to.equal(0);
    expect(packed.get('x')).to.equal(undefined);
  });
});
