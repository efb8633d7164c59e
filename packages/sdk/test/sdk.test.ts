import { expect } from 'chai';
import { defineType, isTypeDef, methodSpec, AppError, type ObjectProxy } from '../src/index.js';
import { loadModule, ModuleLoadError } from '../src/runtime.js';

describe('defineType', () => {
  it('returns a frozen, marked definition', () => {
    const T = defineType('Thing', { get: { readonly: true, run: () => 1 }, set(_ctx, _v: number) {} });
    expect(isTypeDef(T)).to.equal(true);
    expect(Object.isFrozen(T)).to.equal(true);
    expect(methodSpec(T.methods.set).run).to.be.a('function');
    // compile-time: the proxy drops ctx and promises the result
    const call = (p: ObjectProxy<typeof T>) => p.set(5);
    expect(call).to.be.a('function');
  });

  it('rejects bad names and non-function methods', () => {
    expect(() => defineType('bad name', {})).to.throw(/invalid type name/);
    expect(() => defineType('T', { m: { readonly: true } as never })).to.throw(/must be a function/);
  });

  it('AppError carries its code', () => {
    const e = new AppError('NOPE', 'no');
    expect(e.code).to.equal('NOPE');
    expect(e.name).to.equal('AppError');
  });
});

describe('sandbox loader', () => {
  const mod = `module.exports = { default: { __lambdastoreType: 1, name: 'A', methods: { init() {}, m() { return 1 }, r: { readonly: true, timeoutMs: 50, run() {} } } } };`;

  it('lists types and methods, init apart', () => {
    const m = loadModule(mod);
    expect([...m.types.keys()]).to.deep.equal(['A']);
    expect(m.types.get('A')).to.deep.equal({ name: 'A', hasInit: true, methods: [{ name: 'm', readonly: false, timeoutMs: 0 }, { name: 'r', readonly: true, timeoutMs: 50 }] });
  });

  it('refuses modules that do not compile, throw, loop or define nothing', () => {
    for (const [src, msg] of [
      ['module.exports = {', /does not compile/],
      ['throw new Error("x")', /throws when loaded: x/],
      ['for(;;){}', /timed out/],
      ['module.exports = {}', /defines no types/],
      ['', /empty/],
    ] as const) {
      expect(() => loadModule(src, { timeoutMs: 100 }), src).to.throw(ModuleLoadError, msg);
    }
  });

  it('gives module code no ambient authority', () => {
    for (const src of ['process.exit(1)', 'require("fs")', 'eval("1")', 'new Function("return 1")()', 'setTimeout(() => {}, 1)']) {
      expect(() => loadModule(src + ';' + mod), src).to.throw(ModuleLoadError);
    }
  });

  it('enforces a size limit', () => {
    expect(() => loadModule(mod, { maxBytes: 10 })).to.throw(/larger than 10 bytes/);
  });
});
