/** Module sources used by the tests: what the client would send after bundling with esbuild. */

export function counterModule(tag = 'v1'): string {
  return `'use strict';
// ${tag}
const Counter = {
  __lambdastoreType: 1,
  name: 'Counter',
  methods: {
    init(ctx) { ctx.put('n', 0); },
    async inc(ctx, by) { const n = (await ctx.get('n')) ?? 0; ctx.put('n', n + (by ?? 1)); return n + (by ?? 1); },
    get: { readonly: true, timeoutMs: 250, run: async (ctx) => (await ctx.get('n')) ?? 0 },
  },
};
module.exports = { default: Counter };
`;
}

export const SYNTAX_ERROR_MODULE = `module.exports = { default: { __lambdastoreType: 1, name: 'Broken', methods: { x( } } };`;
export const NO_TYPES_MODULE = `module.exports = { default: { hello: 'world' } };`;
export const INFINITE_LOOP_MODULE = `for (;;) {}`;
/** Loops while the loader lists methods, outside the vm's top-level timeout. */
export const LOOPING_GETTER_MODULE = `module.exports = { default: { __lambdastoreType: 1, name: 'Sly', get methods() { for (;;) {} } } };`;
export const MEMORY_HOG_MODULE = `const a = []; for (;;) { a.push(new Array(1e5).fill(Math.random())); }`;
export const THROWING_MODULE = `throw new Error('boom at load');`;
export const BAD_METHOD_TIMEOUT_MODULE = `module.exports = { default: { __lambdastoreType: 1, name: 'T', methods: { m: { timeoutMs: -5, run() {} } } } };`;

/** A syntactically valid module of about `bytes` bytes. */
export function bigModule(bytes: number): string {
  const head = counterModule('big');
  return head + '//' + 'x'.repeat(Math.max(0, bytes - head.length - 2));
}
