import { EventSampler, SamplerConfigError } from './sampling';

const parent = (sampled: boolean, traceId = '4bf92f3577b34da6a3ce929d0e0e4736') => ({
  traceId,
  spanId: '00f067aa0ba902b7',
  sampled,
});

describe('EventSampler', () => {
  it('defaults to parentbased_always_on', () => {
    const s = EventSampler.fromEnv({});
    expect(s.name).toBe('parentbased_always_on');
    expect(s.sample(undefined)).toBe(true);
    expect(s.sample(parent(false))).toBe(false);
    expect(s.sample(parent(true))).toBe(true);
  });

  it('ratio 0 never starts a trace but parent-based follows the producer', () => {
    const s = EventSampler.fromEnv({
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    });
    expect(s.noRoots).toBe(true);
    expect(s.never).toBe(false);
    expect(s.sample(undefined)).toBe(false);
    expect(s.sample(parent(true))).toBe(true);
    expect(EventSampler.fromEnv({ OTEL_TRACES_SAMPLER: 'always_off' }).never).toBe(true);
  });

  it('traceidratio keeps about the ratio, consistently per trace id', () => {
    const s = EventSampler.fromEnv({
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    let kept = 0;
    for (let i = 0; i < 4000; i++) {
      const id = (i * 2654435761).toString(16).padStart(32, '7').slice(-32);
      const a = s.sample(parent(false, id));
      expect(s.sample(parent(true, id))).toBe(a);
      if (a) kept++;
    }
    expect(kept / 4000).toBeGreaterThan(0.15);
    expect(kept / 4000).toBeLessThan(0.35);
    let roots = 0;
    for (let i = 0; i < 4000; i++) if (s.sample(undefined)) roots++;
    expect(roots / 4000).toBeGreaterThan(0.2);
    expect(roots / 4000).toBeLessThan(0.3);
  });

  it('refuses unknown samplers and bad ratios', () => {
    expect(() => EventSampler.fromEnv({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
      SamplerConfigError,
    );
    expect(() =>
      EventSampler.fromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }),
    ).toThrow(SamplerConfigError);
  });
});
