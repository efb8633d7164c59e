import { expect } from 'chai';
import { otelRequested, startOtel } from '../src/index.js';

describe('telemetry bootstrap', () => {
  it('is off unless an OTEL_* exporter variable asks for it', () => {
    expect(otelRequested({})).to.equal(false);
    expect(otelRequested({ OTEL_TRACES_EXPORTER: 'none' })).to.equal(false);
    expect(otelRequested({ OTEL_SERVICE_NAME: 'x' })).to.equal(false);
    expect(otelRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).to.equal(true);
    expect(otelRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).to.equal(true);
  });

  it('starts nothing by default', async () => {
    const stop = await startOtel('test', {});
    await stop();
  });
});
