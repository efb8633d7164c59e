/**
 * Hostile modules: every way we know for code in the sandbox to reach a host object (and through
 * `.constructor.constructor` the host's Function, then `process`) must fail. Each probe returns
 * what it managed; "blocked" means it got only realm objects (code generation is off there).
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@lambdastore/testkit';
import { encodeArgs, decodeResult } from '@lambdastore/proto';
import { execute } from '../src/thread.js';
import { packEntries } from '../src/snapshot.js';
import type { ExecTask } from '../src/task.js';

// Top-level patches run before any method: they must not affect the bootstrap, and whatever they
// intercept must be realm-made.
const HOSTILE = `
const caught = [];
const probe = (x) => { try { return typeof x.constructor.constructor('return process')(); } catch (e) { return 'blocked'; } };
const realThen = Promise.prototype.then;
Promise.prototype.then = function (a, b) { if (a) caught.push(probe(a)); if (b) caught.push(probe(b)); return realThen.call(this, a, b); };
const realParse = JSON.parse;
JSON.parse = function (t) { caught.push('parse-patched-called'); return realParse(t); };
let stash;
module.exports.default = { __lambdastoreType: 1, name: 'H', methods: {
  fakeLength(ctx) {
    const u = new Uint8Array(1);
    Object.defineProperty(u, 'length', { get() { return -10; } });
    try { ctx.put('b', u); return 'no error'; } catch (e) { return probe(e); }
  },
  hugeLength(ctx) {
    const u = new Uint8Array(1);
    Object.defineProperty(u, 'length', { get() { return 2 ** 40; } });
    try { ctx.put('b', u); return 'stored'; } catch (e) { return probe(e); }
  },
  async patchedSet(ctx) {
    const seen = [];
    const realSet = Uint8Array.prototype.set;
    Uint8Array.prototype.set = function (src, o) { seen.push(probe(src)); return realSet.call(this, src, o); };
    try { await ctx.get('bin'); } finally { Uint8Array.prototype.set = realSet; }
    return seen.length === 0 ? 'not called' : seen;
  },
  thenable() { return { then(res, rej) { res(probe(res)); } }; },
  hostileThrow() { throw { get message() { throw new Error('getter boom'); } }; },
  proxyThrow() { throw new Proxy({}, { get() { throw new Error('trap'); } }); },
  patchedCaught() { return caught.filter((c) => c !== 'blocked'); },
  stash(ctx) { stash = ctx; },
  async useStash() { try { await stash.get('bin'); return 'read through a dead ctx'; } catch (e) { return e.code; } },
  swallow: { readonly: true, run(ctx) { try { ctx.put('x', 1); } catch (e) { } return 'swallowed'; } },
  notArrayArgs(ctx, ...a) { return a; },
  errorCtor(ctx) { try { ctx.get(42); } catch (e) { return probe(e); } return ctx.get(42).then(() => 'resolved', (e) => probe(e)); },
  callbacks(ctx) { return probe(ctx.scan) + '/' + probe(ctx.self) + '/' + probe(ctx); },
}};
`;

describe('sandbox against hostile modules', function () {
  this.timeout(10_000);
  let dir: { path: string; cleanup: () => Promise<void> };
  let modulePath: string;
  before(async () => {
    dir = await tempDir('ls-sandbox-');
    modulePath = join(dir.path, 'h.js');
    await writeFile(modulePath, HOSTILE);
  });
  after(async () => { await dir.cleanup(); });

  const bin = (() => { const o = new Uint8Array(4); o.set([2, 1, 2, 3]); return o; })();
  const task = (method: string, extra: Partial<ExecTask> = {}): ExecTask => {
    const a = encodeArgs([]);
    return { modulePath, moduleId: 'h1', type: 'H', id: 'x', method, args: a.bytes, argsEncoding: a.encoding, readonly: false, create: false, snapshot: packEntries(new Map([['bin', bin]])), maxValueBytes: 1024, channel: 'unused', ...extra };
  };
  const value = async (method: string, extra?: Partial<ExecTask>) => {
    const r = await execute(task(method, extra));
    return r.ok ? decodeResult(r.result, r.resultEncoding) : `error ${r.error!.code}`;
  };

  it('a Uint8Array with a lying length cannot make the host throw into the realm', async () => {
    expect(['blocked', 'no error']).to.include(await value('fakeLength'));
    expect(['blocked', 'stored']).to.include(await value('hugeLength'));
  });

  it('a patched Uint8Array.prototype.set is never called with host arrays', async () => {
    const r = await value('patchedSet');
    expect(r === 'not called' || (Array.isArray(r) && r.every((x) => x === 'blocked')), JSON.stringify(r)).to.equal(true);
  });

  it('a thenable result gets realm resolving functions', async () => {
    expect(await value('thenable')).to.equal('blocked');
  });

  it('patched Promise.prototype.then and JSON.parse see no host objects and do not affect ctx', async () => {
    await value('thenable');
    await value('errorCtor');
    expect(await value('patchedCaught')).to.deep.equal([]);
  });

  it('errors and functions handed out by ctx are realm-made', async () => {
    expect(await value('errorCtor')).to.equal('blocked');
    expect(await value('callbacks')).to.equal('blocked/blocked/blocked');
  });

  it('a hostile thrown value is METHOD_FAILED, not a crash', async () => {
    expect(await value('hostileThrow')).to.equal('error METHOD_FAILED');
    expect(await value('proxyThrow')).to.equal('error METHOD_FAILED');
  });

  it('a ctx kept past its call stops working', async () => {
    await value('stash');
    expect(await value('useStash')).to.equal('INVALID_ARGUMENT');
  });

  it('a readonly method that swallows its write error still fails', async () => {
    expect(await value('swallow', { readonly: true })).to.equal('error NOT_READONLY');
  });
});
