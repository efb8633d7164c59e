/**
 * Deploy-time validation in a throw-away thread: good modules are described, hostile ones are
 * refused with stable codes and never take the test process (standing in for the coordinator) down.
 */
import { expect } from 'chai';
import { LambdaStoreError } from '@lambdastore/proto';
import { ModuleChecker, moduleIdOf } from '../src/index.js';
import {
  BAD_METHOD_TIMEOUT_MODULE, INFINITE_LOOP_MODULE, LOOPING_GETTER_MODULE, MEMORY_HOG_MODULE, NO_TYPES_MODULE,
  SYNTAX_ERROR_MODULE, THROWING_MODULE, bigModule, counterModule,
} from './modules.js';

const checker = new ModuleChecker({ timeoutMs: 2000, maxHeapMb: 64, maxBytes: 900 * 1024, maxConcurrent: 2 });

async function refusal(source: string): Promise<LambdaStoreError> {
  try {
    await checker.check(source, 'test.js');
  } catch (err) {
    expect(err).to.be.instanceOf(LambdaStoreError);
    return err as LambdaStoreError;
  }
  throw new Error('expected the module to be refused');
}

describe('ModuleChecker', function () {
  this.timeout(15_000);

  it('describes the types of a valid module (init is not a method)', async () => {
    const types = await checker.check(counterModule(), 'counter.js');
    expect(types).to.deep.equal([{
      name: 'Counter',
      methods: [
        { name: 'inc', readonly: false, timeoutMs: 0 },
        { name: 'get', readonly: true, timeoutMs: 250 },
      ],
    }]);
  });

  it('module id is the first 32 hex chars of sha-256', () => {
    expect(moduleIdOf('abc')).to.equal('ba7816bf8f01cfea414140de5dae2223');
  });

  const cases: [string, string, RegExp][] = [
    ['a syntax error', SYNTAX_ERROR_MODULE, /does not compile/],
    ['no types', NO_TYPES_MODULE, /defines no types/],
    ['a throw at load', THROWING_MODULE, /boom at load/],
    ['an infinite loop at top level', INFINITE_LOOP_MODULE, /timed out|within/],
    ['a loop while listing methods', LOOPING_GETTER_MODULE, /within 2000 ms/],
    ['memory exhaustion', MEMORY_HOG_MODULE, /exhausted the 64 MB heap limit/],
    ['a negative method timeout', BAD_METHOD_TIMEOUT_MODULE, /timeoutMs/],
    ['an empty source', '', /empty/],
  ];
  for (const [what, source, message] of cases) {
    it(`refuses ${what} with DEPLOY_INVALID`, async () => {
      const err = await refusal(source);
      expect(err.code).to.equal('DEPLOY_INVALID');
      expect(err.retryable).to.equal(false);
      expect(err.message).to.match(message);
    });
  }

  it('refuses a module over the size limit with PAYLOAD_TOO_LARGE, before loading it', async () => {
    const err = await refusal(bigModule(901 * 1024));
    expect(err.code).to.equal('PAYLOAD_TOO_LARGE');
  });

  it('runs at most maxConcurrent checks at once and still answers all', async () => {
    const results = await Promise.allSettled([INFINITE_LOOP_MODULE, counterModule('a'), counterModule('b'), NO_TYPES_MODULE].map((s) => checker.check(s)));
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'fulfilled', 'fulfilled', 'rejected']);
  });
});
