import { expect } from 'chai';
import {
  lambdastore, encodeArgs, decodeArgs, encodeResult, decodeResult, decodeInvokeRequest, jsonToInvokeRequest,
  invokeResponseToJson, errorResponse, LambdaStoreError, errorFromWire, errorToWire, shardOf, subjects, ENCODING, checkObjectId,
} from '../src/index.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('payload encoding', () => {
  it('sends arguments as a JSON array, one Uint8Array raw', () => {
    const j = encodeArgs([1, 'a', { b: null }]);
    expect(j.encoding).to.equal(ENCODING.JSON);
    expect(decodeArgs(j.bytes, j.encoding)).to.deep.equal([1, 'a', { b: null }]);
    const r = encodeArgs([new Uint8Array([7])]);
    expect(r.encoding).to.equal(ENCODING.RAW);
    expect(decodeArgs(r.bytes, r.encoding)).to.deep.equal([new Uint8Array([7])]);
    expect(decodeArgs(new Uint8Array(0), ENCODING.JSON)).to.deep.equal([]);
  });

  it('refuses arguments that are not JSON or not an array', () => {
    const bigint = () => encodeArgs([10n]);
    expect(bigint).to.throw(LambdaStoreError).with.property('code', 'INVALID_ARGUMENT');
    expect(() => decodeArgs(new TextEncoder().encode('{'), ENCODING.JSON)).to.throw(LambdaStoreError).with.property('code', 'INVALID_ARGUMENT');
    expect(() => decodeArgs(new TextEncoder().encode('{"a":1}'), ENCODING.JSON)).to.throw(/JSON array/);
  });

  it('round-trips results, undefined included', () => {
    for (const v of [undefined, null, 0, 'x', [1], { a: { b: 2 } }]) {
      const e = encodeResult(v);
      expect(decodeResult(e.bytes, e.encoding)).to.deep.equal(v);
    }
    const raw = encodeResult(new Uint8Array([1, 2]));
    expect(raw.encoding).to.equal(ENCODING.RAW);
  });
});

describe('invocation messages', () => {
  it('decodes protobuf and rejects garbage with MALFORMED_REQUEST', () => {
    const bytes = lambdastore.InvokeRequest.encode({ target: { type: 'A', id: 'x' }, method: 'm', configVersion: 9 }).finish();
    const req = decodeInvokeRequest(bytes);
    expect(req.configVersion).to.equal(9); // a number, not a Long
    expect(() => decodeInvokeRequest(new Uint8Array([0xff, 0xff]))).to.throw(LambdaStoreError).with.property('code', 'MALFORMED_REQUEST');
    expect(() => decodeInvokeRequest(lambdastore.InvokeRequest.encode({ method: 'm' }).finish())).to.throw(/target/);
    // a JSON body sent without its header gets a hint
    expect(() => decodeInvokeRequest(new TextEncoder().encode('{"type":"A","id":"x","method":"m"}'))).to.throw(/Content-Type: application\/json/);
  });

  it('maps the JSON ingress form, with clear errors', () => {
    const req = jsonToInvokeRequest(new TextEncoder().encode('{"type":"Account","id":"alice","method":"deposit","args":[5],"idempotencyKey":"k1"}'));
    expect(req.target).to.deep.include({ type: 'Account', id: 'alice' });
    expect(req.idempotencyKey).to.equal('k1');
    expect(text(req.args)).to.equal('[5]');
    const bad = (body: string) => { try { jsonToInvokeRequest(new TextEncoder().encode(body)); return 'ok'; } catch (e) { return (e as LambdaStoreError).code; } };
    expect(bad('nope')).to.equal('MALFORMED_REQUEST');
    expect(bad('[]')).to.equal('MALFORMED_REQUEST');
    expect(bad('{"type":"A","id":"x"}')).to.equal('MALFORMED_REQUEST');
    expect(bad('{"type":"A","id":1,"method":"m"}')).to.equal('MALFORMED_REQUEST');
    expect(bad('{"type":"A","id":"x","method":"m","args":{}}')).to.equal('INVALID_ARGUMENT');
    expect(bad('{"type":"A","id":"x","create":true}')).to.equal('ok');
    expect(bad('{"type":"A","id":"x","create":"yes"}')).to.equal('MALFORMED_REQUEST');
    // Nesting JSON.parse accepts but JSON.stringify overflows on: a clear error, not INTERNAL.
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(bad(`{"type":"A","id":"x","method":"m","args":[${deep}]}`)).to.equal('INVALID_ARGUMENT');
  });

  it('renders replies as JSON', () => {
    const ok = lambdastore.InvokeResponse.create({ ok: true, result: new TextEncoder().encode('{"n":1}'), resultEncoding: 0 });
    expect(JSON.parse(text(invokeResponseToJson(ok)))).to.deep.equal({ ok: true, result: { n: 1 } });
    const err = errorResponse(new LambdaStoreError('NO_WORKERS', 'none', { retryAfterMs: 200 }));
    expect(JSON.parse(text(invokeResponseToJson(err)))).to.deep.equal({ ok: false, error: { code: 'NO_WORKERS', message: 'none', retryable: true, retryAfterMs: 200 } });
  });
});

describe('errors', () => {
  it('survive the wire with code, retryable flag and redirect', () => {
    const e = new LambdaStoreError('WRONG_SHARD', 'go there', { redirect: { shard: 3, workerId: 'w1', configVersion: 7 } });
    const back = errorFromWire(lambdastore.WireError.decode(lambdastore.WireError.encode(errorToWire(e)).finish()));
    expect(back.code).to.equal('WRONG_SHARD');
    expect(back.retryable).to.equal(true);
    expect(back.redirect).to.deep.equal({ shard: 3, workerId: 'w1', configVersion: 7 });
    expect(new LambdaStoreError('INSUFFICIENT_FUNDS', 'app').retryable).to.equal(false);
  });
});

describe('placement and names', () => {
  it('places objects deterministically and spreads them', () => {
    expect(shardOf('Account', 'alice', 16)).to.equal(shardOf('Account', 'alice', 16));
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf('Micro', `m${i}`, 16)]++;
    for (const c of counts) expect(c).to.be.within(800, 1200);
    // type and id are separated: ("ab","c") and ("a","bc") are different objects
    expect(shardOf('ab', 'c', 1 << 30)).to.not.equal(shardOf('a', 'bc', 1 << 30));
  });

  it('builds subjects from a configurable prefix', () => {
    expect(subjects().invoke).to.equal('lambdastore.invoke');
    expect(subjects('acme.prod').shardInvoke(3)).to.equal('acme.prod.shard.3.invoke');
    expect(subjects('acme.prod').metaBucket).to.equal('acme_prod_meta');
    expect(() => subjects('bad prefix')).to.throw(/invalid subject prefix/);
    expect(() => subjects('a..b')).to.throw();
  });

  it('checks object ids', () => {
    expect(checkObjectId('alice')).to.equal(undefined);
    expect(checkObjectId('')).to.match(/non-empty/);
    expect(checkObjectId('x'.repeat(257))).to.match(/longer/);
    expect(checkObjectId('a\u0000b')).to.match(/NUL/);
  });
});
