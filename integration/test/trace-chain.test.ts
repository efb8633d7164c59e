/**
 * One trace per root call, across every hop: a chain A -> B -> C whose objects live on three
 * different workers. Coordinator and workers run in this process (real nats-server, LevelDB,
 * Piscina threads) so an in-memory exporter sees every span; the parent links are checked one by
 * one, including the spans of the part that ran in a worker thread.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { Coordinator } from '@lambdastore/coordinator';
import { LambdaStoreWorker } from '@lambdastore/worker';
import { eventually, startNatsServer, tempDir, type NatsServer } from '@lambdastore/testkit';
import { fixture, placeObjects } from '../src/cluster.js';
import { testSpanExporter } from '../src/tracing.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

describe('one trace across threads and workers', function () {
  this.timeout(120_000);
  // Registered when the suite starts, not when the file loads: other suites run without it.
  let exporter: ReturnType<typeof testSpanExporter>;
  let nats: NatsServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let coordinator: Coordinator;
  const workers: LambdaStoreWorker[] = [];
  let client: LambdaStoreClient;
  let ids: string[];

  before(async () => {
    exporter = testSpanExporter();
    dir = await tempDir('ls-trace-');
    nats = await startNatsServer({ storeDir: join(dir.path, 'nats') });
    coordinator = new Coordinator({ servers: nats.url, minWorkers: 3, logger: quiet });
    await coordinator.start();
    for (const id of ['w-a', 'w-b', 'w-c']) {
      workers.push(await LambdaStoreWorker.start({ servers: nats.url, dataDir: join(dir.path, id), workerId: id, threads: 2 }));
    }
    client = await connect({ servers: nats.url });
    await eventually(async () => (await client.config()).shards.every((s) => (s.chain?.length ?? 0) > 0) && (await client.config()).shards.length > 0, 20_000, 'shards assigned');
    await client.deployFile(fixture('testtypes.ts'));
    ids = placeObjects(await client.config(), 'Relay', 3, 'across-workers', 'relay');
    for (const id of ids) await client.create('Relay', id);
  });

  after(async () => {
    await client?.close().catch(() => {});
    for (const w of workers) await w.stop().catch(() => {});
    await coordinator?.stop().catch(() => {});
    await nats?.stop();
    await dir?.cleanup();
  });

  it('links client, ingress, execute, thread, nested calls, snapshot reads and two-phase commit', async () => {
    const [a, b, c] = ids as [string, string, string];
    const owner = async (id: string) => {
      const cfg = await client.config();
      const { shardOf } = await import('@lambdastore/proto');
      return cfg.shards.find((s) => s.shard === shardOf('Relay', id, cfg.numShards))!.chain![0]!;
    };
    const owners = [await owner(a), await owner(b), await owner(c)];
    expect(new Set(owners).size, `A, B, C on three workers (${owners.join(', ')})`).to.equal(3);
    exporter.reset();
    expect(await client.invoke('Relay', a, 'relay', [[b, c]])).to.deep.equal([a, b, c]);

    const root = exporter.getFinishedSpans().find((s) => s.name === 'lambdastore.invoke')!;
    expect(root, 'client span').to.not.equal(undefined);
    const traceId = root.spanContext().traceId;
    // Participants acknowledge the decision after the reply: wait for both DECIDEs to be served.
    const spans = await eventually(() => {
      const all = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      return all.filter((s) => s.name === 'lambdastore.txn.decide').length >= 2 && all;
    }, 15_000, 'the decide spans of both participants');
    // Everything the call caused is in this one trace.
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'lambdastore.thread').every((s) => s.spanContext().traceId === traceId)).to.equal(true);

    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parent = (s: ReadableSpan) => byId.get(s.parentSpanContext?.spanId ?? '');
    const one = (name: string, pred: (s: ReadableSpan) => boolean = () => true) => {
      const found = spans.filter((s) => s.name === name && pred(s));
      expect(found.length, `${name} spans`).to.equal(1);
      return found[0]!;
    };
    const attr = (s: ReadableSpan, k: string) => s.attributes[`lambdastore.${k}`];

    const entry = one(spans.some((s) => s.name === 'lambdastore.shard') ? 'lambdastore.shard' : 'lambdastore.ingress');
    expect(parent(entry)).to.equal(root);
    expect(attr(entry, 'worker')).to.equal(owners[0]);
    const execute = one('lambdastore.execute');
    expect(parent(execute)).to.equal(entry);
    expect(attr(execute, 'object_id')).to.equal(a);
    expect(attr(execute, 'method')).to.equal('relay');
    expect(attr(execute, 'attempt')).to.equal(1);
    expect(attr(execute, 'shard')).to.be.a('number');
    expect(attr(execute, 'epoch')).to.be.a('number');
    const thread = one('lambdastore.thread');
    expect(parent(thread)).to.equal(execute);
    expect(attr(thread, 'queue_ms')).to.be.a('number');
    // The nested calls ran inside A's thread: B under the thread span, C under B.
    const callB = one('lambdastore.call', (s) => attr(s, 'object_id') === b);
    const callC = one('lambdastore.call', (s) => attr(s, 'object_id') === c);
    expect(parent(callB)).to.equal(thread);
    expect(parent(callC)).to.equal(callB);
    expect(callC.endTime[0] * 1e3 + callC.endTime[1] / 1e6).to.be.at.most(callB.endTime[0] * 1e3 + callB.endTime[1] / 1e6);
    // Each snapshot read is a request from the nested call to the owner, served there.
    for (const [call, w] of [[callB, owners[1]], [callC, owners[2]]] as const) {
      const snapshot = one('lambdastore.txn.snapshot', (s) => attr(s, 'worker') === w);
      expect(parent(parent(snapshot)!)).to.equal(call);
    }
    // Two-phase commit under the entry span: a PREPARE and a DECIDE served on each participant.
    const twoPc = one('lambdastore.2pc');
    expect(parent(twoPc)).to.equal(entry);
    for (const step of ['prepare', 'decide']) {
      const served = spans.filter((s) => s.name === `lambdastore.txn.${step}`);
      expect(served.map((s) => attr(s, 'worker')).sort(), step).to.deep.equal([owners[1], owners[2]].sort());
      for (const s of served) expect(parent(parent(s)!), `${step} on ${attr(s, 'worker')}`).to.equal(twoPc);
    }
  });

  it('validates a read-only chain across workers under its own span, served on each participant', async () => {
    const [a, b, c] = ids as [string, string, string];
    exporter.reset();
    expect(await client.invoke('Relay', a, 'hops', [[b, c]])).to.be.a('number');
    const spans = await eventually(() => {
      const all = exporter.getFinishedSpans();
      return all.filter((s) => s.name === 'lambdastore.txn.validate').length >= 2 && all;
    }, 15_000, 'validate served on both other workers');
    const validate = spans.filter((s) => s.name === 'lambdastore.validate');
    expect(validate.length).to.equal(1);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    for (const served of spans.filter((s) => s.name === 'lambdastore.txn.validate')) {
      const request = byId.get(served.parentSpanContext!.spanId)!;
      expect(request.name).to.equal('lambdastore.txn.request');
      expect(request.parentSpanContext!.spanId).to.equal(validate[0]!.spanContext().spanId);
    }
    expect(spans.some((s) => s.name === 'lambdastore.2pc' || s.name === 'lambdastore.commit')).to.equal(false);
  });

  it('marks the failing hop and the abort in the trace', async () => {
    const [a, b, c] = ids as [string, string, string];
    exporter.reset();
    const err = await client.invoke('Relay', a, 'relay', [[b, c], true]).then(() => undefined, (e: { code: string }) => e);
    expect(err?.code).to.equal('END_OF_THE_LINE');
    const spans = exporter.getFinishedSpans();
    const callC = spans.find((s) => s.name === 'lambdastore.call' && s.attributes['lambdastore.object_id'] === c)!;
    expect(callC.attributes['lambdastore.error']).to.equal('END_OF_THE_LINE');
    const execute = spans.find((s) => s.name === 'lambdastore.execute')!;
    expect(execute.attributes['lambdastore.error']).to.equal('END_OF_THE_LINE');
    expect(callC.spanContext().traceId).to.equal(execute.spanContext().traceId);
  });
});
