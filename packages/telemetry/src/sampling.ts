/**
 * Which traces are recorded. Default: parent-based, 1 root in 100 (a caller that sent a sampled
 * `traceparent` is always followed; one that sent an unsampled one never is). The standard
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG win when set; LAMBDASTORE_TRACE_SAMPLE_RATIO sets
 * just the root ratio (0 turns tracing off in the process: no tracer provider at all).
 */
import { LambdaStoreError } from '@lambdastore/proto';
import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace';

export const DEFAULT_SAMPLE_RATIO = 0.01;

export interface SamplingChoice {
  sampler: Sampler;
  /** False when nothing can ever be sampled (no provider needs to be installed). */
  enabled: boolean;
  description: string;
}

function ratioFrom(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new LambdaStoreError('INVALID_ARGUMENT', `${name} must be a number in 0..1, got ${JSON.stringify(raw)}`);
  return v;
}

export function samplingFromEnv(env: NodeJS.ProcessEnv = process.env): SamplingChoice {
  const name = env.OTEL_TRACES_SAMPLER?.trim();
  if (name) {
    const arg = () => ratioFrom('OTEL_TRACES_SAMPLER_ARG', env.OTEL_TRACES_SAMPLER_ARG, 1);
    switch (name) {
      case 'always_on': return { sampler: new AlwaysOnSampler(), enabled: true, description: 'always_on' };
      case 'always_off': return { sampler: new AlwaysOffSampler(), enabled: false, description: 'always_off' };
      case 'parentbased_always_on': return { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), enabled: true, description: name };
      case 'parentbased_always_off': return { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), enabled: true, description: name };
      case 'traceidratio': { const r = arg(); return { sampler: new TraceIdRatioBasedSampler(r), enabled: r > 0, description: `${name} ${r}` }; }
      case 'parentbased_traceidratio': { const r = arg(); return { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(r) }), enabled: true, description: `${name} ${r}` }; }
      default: throw new LambdaStoreError('INVALID_ARGUMENT', `OTEL_TRACES_SAMPLER ${JSON.stringify(name)} is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio`);
    }
  }
  const ratio = ratioFrom('LAMBDASTORE_TRACE_SAMPLE_RATIO', env.LAMBDASTORE_TRACE_SAMPLE_RATIO, DEFAULT_SAMPLE_RATIO);
  return {
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    enabled: ratio > 0,
    description: `parent-based, roots ${ratio}`,
  };
}
