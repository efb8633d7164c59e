/**
 * One trace follows a call from the client through NATS into the worker: the client's span is the
 * parent of the worker's shard/ingress span, whose children are execute and commit. W3C trace
 * context travels in NATS headers. Workers export only because OTEL_TRACES_EXPORTER asks them to
 * (console here); by default nothing is exported (checked in e2e.test.ts).
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { connect as natsConnect, headers } from '@nats-io/transport-node';
import { eventually } from '@lambdastore/testkit';
import { startTestCluster, fixture, type TestCluster } from '../src/cluster.js';
import { testSpanExporter } from '../src/tracing.js';

describe('tracing across processes', function () {
  this.timeout(120_000);
  let t: TestCluster;
  // Registered when the suite starts, not when the file loads: other suites run without it.
  let exporter: ReturnType<typeof testSpanExporter>;

  before(async () => {
    exporter = testSpanExporter();
    t = await startTestCluster({ env: { OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' } });
    await t.client.deployFile(fixture('testtypes.ts'));
  });
  after(async () => {
    await t?.stop();
  });

  const workerLogs = async () => (await Promise.all(t.cluster.workers.map((w) => readFile(w.logFile, 'utf8')))).join('\n');

  it('links client, shard, execute and commit spans in one trace', async () => {
    await t.client.create('Counter', 'traced');
    exporter.reset();
    await t.client.invoke('Counter', 'traced', 'add', [1]);
    const clientSpan = exporter.getFinishedSpans().find((s) => s.name === 'lambdastore.invoke');
    expect(clientSpan, 'client span').to.not.equal(undefined);
    const traceId = clientSpan!.spanContext().traceId;
    const logs = await eventually(async () => {
      const text = await workerLogs();
      return ['lambdastore.shard', 'lambdastore.execute', 'lambdastore.commit'].every((n) => new RegExp(`traceId: '${traceId}'[\\s\\S]{0,400}name: '${n}'`).test(text)) && text;
    }, 15_000, 'worker spans of the trace in the worker logs');
    // the shard span's parent is the client span
    expect(logs).to.match(new RegExp(`traceId: '${traceId}',\\s+parentSpanContext: \\{[^}]*spanId: '${clientSpan!.spanContext().spanId}'[\\s\\S]{0,300}name: 'lambdastore.shard'`));
  });

  it('continues a trace a plain NATS caller started (traceparent header on the ingress)', async () => {
    const nc = await natsConnect({ servers: t.cluster.natsUrl });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const h = headers();
    h.set('Content-Type', 'application/json');
    h.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
    const m = await nc.request('lambdastore.invoke', new TextEncoder().encode(JSON.stringify({ type: 'Counter', id: 'traced', method: 'get' })), { timeout: 10_000, headers: h });
    expect(JSON.parse(new TextDecoder().decode(m.data))).to.deep.equal({ ok: true, result: 1 });
    await eventually(async () => new RegExp(`traceId: '${traceId}'[\\s\\S]{0,400}name: 'lambdastore.ingress'`).test(await workerLogs()), 15_000, 'the ingress span in the caller trace');
    await nc.close();
  });
});

describe('OTLP export when OTEL_* asks for it', function () {
  this.timeout(120_000);
  let t: TestCluster;
  let collector: import('node:http').Server;
  const received: Array<{ path: string; body: Buffer }> = [];

  before(async () => {
    const { createServer } = await import('node:http');
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: Buffer.concat(chunks) });
        res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
    const port = (collector.address() as import('node:net').AddressInfo).port;
    t = await startTestCluster({
      workers: 1,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_TRACES_SAMPLER: 'always_on',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_METRIC_EXPORT_INTERVAL: '500',
        OTEL_LOGS_EXPORTER: 'none',
      },
    });
    await t.client.deployFile(fixture('testtypes.ts'));
  });
  after(async () => {
    await t?.stop();
    collector?.closeAllConnections();
    await new Promise((r) => collector?.close(r));
  });

  it('sends spans and metrics over OTLP/HTTP to the collector', async () => {
    await t.client.create('Counter', 'exported');
    await t.client.invoke('Counter', 'exported', 'add', [1]);
    await eventually(() => received.some((r) => r.path === '/v1/traces' && r.body.includes('lambdastore.execute')), 15_000, 'execute spans at /v1/traces');
    await eventually(() => received.some((r) => r.path === '/v1/metrics' && r.body.includes('lambdastore.calls')), 15_000, 'lambdastore.calls at /v1/metrics');
  });
});
