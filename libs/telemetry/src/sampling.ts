import type { TraceParent } from './trace-context';

/** The standard OTEL_TRACES_SAMPLER values. */
export const SAMPLER_NAMES = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

export class SamplerConfigError extends Error {
  override readonly name = 'SamplerConfigError';
}

/**
 * The per-event sampling decision, taken by Sluice itself rather than by the SDK's sampler so
 * that an event that is not sampled costs no span object at all: the consumer asks `sample()`
 * per event and only starts spans for a yes. It follows the semantics of the OTEL_TRACES_SAMPLER
 * value: parent-based samplers follow the producer's sampled flag, ratio samplers keep a trace
 * by its trace id (the same rule as the SDK's TraceIdRatioBasedSampler), so a trace is kept or
 * dropped consistently wherever it is decided.
 */
export class EventSampler {
  readonly ratio: number;
  private readonly parentBased: boolean;
  private readonly upperBound: number;

  constructor(
    readonly name: SamplerName,
    ratio: number,
  ) {
    if (!(ratio >= 0 && ratio <= 1))
      throw new SamplerConfigError(`ratio must be 0..1, got ${ratio}`);
    this.parentBased = name.startsWith('parentbased_');
    this.ratio = name.endsWith('always_on') ? 1 : name.endsWith('always_off') ? 0 : ratio;
    this.upperBound = Math.floor(this.ratio * 0xffffffff);
  }

  /** From OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG; the spec's default is parentbased_always_on. */
  static fromEnv(env: NodeJS.ProcessEnv): EventSampler {
    const name = (env.OTEL_TRACES_SAMPLER ?? '').trim() || 'parentbased_always_on';
    if (!(SAMPLER_NAMES as readonly string[]).includes(name)) {
      throw new SamplerConfigError(
        `OTEL_TRACES_SAMPLER must be one of ${SAMPLER_NAMES.join(', ')}, got "${name}"`,
      );
    }
    const arg = (env.OTEL_TRACES_SAMPLER_ARG ?? '').trim();
    const ratio = arg === '' ? 1 : Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      throw new SamplerConfigError(
        `OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "${arg}"`,
      );
    }
    return new EventSampler(name as SamplerName, ratio);
  }

  /** True when no event can ever be sampled: callers skip their per-event loop. */
  get never(): boolean {
    return this.ratio === 0 && !this.parentBased;
  }

  /** True when a new trace (no parent) is never started. */
  get noRoots(): boolean {
    return this.ratio === 0;
  }

  /** Whether to trace an event with this parent (from its Kafka headers) or none. */
  sample(parent: TraceParent | undefined): boolean {
    if (parent === undefined)
      return this.ratio > 0 && (this.ratio === 1 || Math.random() < this.ratio);
    if (this.parentBased) return parent.sampled;
    return this.byTraceId(parent.traceId);
  }

  private byTraceId(traceId: string): boolean {
    if (this.ratio === 1) return true;
    if (this.ratio === 0) return false;
    let accumulation = 0;
    for (let i = 0; i < traceId.length / 8; i++) {
      const part = parseInt(traceId.slice(i * 8, i * 8 + 8), 16);
      accumulation = (accumulation ^ part) >>> 0;
    }
    return accumulation <= this.upperBound;
  }
}
