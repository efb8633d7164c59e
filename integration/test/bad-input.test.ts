/**
 * Bad input gets a clear error with a stable code; the worker keeps serving and nothing is lost.
 */
import { expect } from 'chai';
import { connect as natsConnect, headers, type NatsConnection } from '@nats-io/transport-node';
import { lambdastore, LambdaStoreError } from '@lambdastore/proto';
import { startNatsServer } from '@lambdastore/testkit';
import { connect } from '@lambdastore/client';
import { startTestCluster, fixture, codeOf, type TestCluster } from '../src/cluster.js';

describe('bad input', function () {
  this.timeout(120_000);
  let t: TestCluster;
  let nc: NatsConnection;

  before(async () => {
    t = await startTestCluster();
    nc = await natsConnect({ servers: t.cluster.natsUrl });
    await t.client.deployFile(fixture('testtypes.ts'));
    await t.client.create('Counter', 'b', 1);
  });
  after(async () => {
    await nc?.close();
    await t?.stop();
  });

  const get = () => t.client.invoke('Counter', 'b', 'get');

  it('unknown type, method or object', async () => {
    expect(await codeOf(t.client.invoke('Ghost', 'b', 'get'))).to.equal('UNKNOWN_TYPE');
    expect(await codeOf(t.client.invoke('Counter', 'b', 'nosuch'))).to.equal('UNKNOWN_METHOD');
    expect(await codeOf(t.client.invoke('Counter', 'never-created', 'get'))).to.equal('OBJECT_NOT_FOUND');
    expect(await codeOf(t.client.create('Counter', 'b'))).to.equal('OBJECT_EXISTS');
  });

  it('malformed protobuf and JSON on the shard subject and the ingress', async () => {
    const shardSubject = `lambdastore.shard.${(await t.client.config()).shards[0]!.shard}.invoke`;
    for (const subject of ['lambdastore.invoke', shardSubject]) {
      const r = lambdastore.InvokeResponse.decode((await nc.request(subject, new Uint8Array([8, 0xff]), { timeout: 5000 })).data);
      expect(r.error?.code, subject).to.equal('MALFORMED_REQUEST');
    }
    const h = headers();
    h.set('Content-Type', 'application/json');
    const cases: Array<[string, string]> = [
      ['[1,2]', 'MALFORMED_REQUEST'],
      ['{"type":"Counter"}', 'MALFORMED_REQUEST'],
      ['{"type":"Counter","id":"b","method":"add","args":"notarray"}', 'INVALID_ARGUMENT'],
      ['{"type":"Counter","id":"b","method":"add","args":[1],"timeoutMs":-5}', 'INVALID_ARGUMENT'],
      ['{"type":"bad name!","id":"b","method":"get"}', 'INVALID_ARGUMENT'],
    ];
    for (const [body, code] of cases) {
      const m = await nc.request('lambdastore.invoke', new TextEncoder().encode(body), { timeout: 5000, headers: h });
      expect(JSON.parse(new TextDecoder().decode(m.data)).error.code, body).to.equal(code);
    }
  });

  it('arguments that are not JSON', async () => {
    const req = lambdastore.InvokeRequest.encode({ target: { type: 'Counter', id: 'b' }, method: 'add', args: new TextEncoder().encode('{oops'), argsEncoding: 0 }).finish();
    const r = lambdastore.InvokeResponse.decode((await nc.request('lambdastore.invoke', req, { timeout: 5000 })).data);
    expect(r.error?.code).to.equal('INVALID_ARGUMENT');
    expect(await codeOf(t.client.invoke('Counter', 'b', 'add', [() => 1] as unknown[]))).to.equal('NO_ERROR'); // functions serialize to null
  });

  it('a payload over the limit', async () => {
    // 2 MiB is over NATS' max_payload: refused before it leaves the client
    expect(await codeOf(t.client.invoke('Counter', 'b', 'echo', ['x'.repeat(2 * 1024 * 1024)]))).to.equal('PAYLOAD_TOO_LARGE');
    // a result over the worker's limit
    expect(await codeOf(t.client.invoke('Counter', 'b', 'big', [950 * 1024]))).to.equal('PAYLOAD_TOO_LARGE');
    expect(await get()).to.equal(1);
  });

  it('a method that throws applies none of its writes', async () => {
    expect(await codeOf(t.client.invoke('Counter', 'b', 'writeThenThrow'))).to.equal('METHOD_FAILED');
    expect(await codeOf(t.client.invoke('Counter', 'b', 'writeThenAppError'))).to.equal('NOT_TODAY');
    expect(await codeOf(t.client.invoke('Counter', 'b', 'sneaky'))).to.equal('NOT_READONLY');
    expect(await get()).to.equal(1);
  });

  it('a runaway method is aborted, its writes discarded, other calls unaffected', async () => {
    await t.client.create('Counter', 'bystander');
    const started = Date.now();
    const spin = codeOf(t.client.invoke('Counter', 'b', 'spin'));
    const hang = codeOf(t.client.invoke('Counter', 'b', 'hang'));
    // while both run away, the same worker keeps serving others
    const others = await Promise.all(Array.from({ length: 50 }, () => t.client.invoke('Counter', 'bystander', 'add', [1])));
    expect(others.length).to.equal(50);
    expect(await spin).to.equal('METHOD_TIMEOUT');
    expect(await hang).to.equal('METHOD_TIMEOUT');
    expect(Date.now() - started).to.be.lessThan(20_000);
    expect(await get()).to.equal(1);
    // the replaced threads serve again
    expect(await t.client.invoke('Counter', 'b', 'add', [1])).to.equal(2);
    expect(await t.client.invoke('Counter', 'bystander', 'get')).to.equal(50);
  });

  it('deploying a module with a syntax error or no types', async () => {
    expect(await codeOf(t.client.deploy('module.exports = { ', 'broken.js'))).to.equal('DEPLOY_INVALID');
    expect(await codeOf(t.client.deploy('module.exports = { x: 1 };', 'empty.js'))).to.equal('DEPLOY_INVALID');
    expect(await codeOf(t.client.deploy('for(;;){}', 'loop.js'))).to.equal('DEPLOY_INVALID');
    // the deployed version is untouched and keeps serving
    await t.client.create('Counter', 'after-bad-deploys', 5);
    expect(await t.client.invoke('Counter', 'after-bad-deploys', 'add', [1])).to.equal(6);
  });
});

describe('invoking before any worker is up', function () {
  this.timeout(30_000);
  it('fails with a retryable error instead of hanging', async () => {
    const server = await startNatsServer();
    const client = await connect({ servers: server.url, maxAttempts: 3 });
    try {
      const started = Date.now();
      let caught: LambdaStoreError | undefined;
      try {
        await client.invoke('Counter', 'x', 'get', [], { timeoutMs: 5000 });
      } catch (err) {
        caught = err as LambdaStoreError;
      }
      expect(caught?.code).to.be.oneOf(['NO_WORKERS', 'TIMEOUT']);
      expect(caught?.retryable).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(15_000);
    } finally {
      await client.close();
      await server.stop();
    }
  });
});
