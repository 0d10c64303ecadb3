import { Histogram, Registry } from 'prom-client';
import { WeightedHistogram } from './weighted-histogram';

/** Sums rounded: n additions of a value and one multiplication differ in the last bits. */
const normalized = (text: string) =>
  text.replace(
    /(_sum\{[^}]*\}) (\S+)/g,
    (_, series: string, v: string) => `${series} ${Number(v).toFixed(9)}`,
  );

describe('WeightedHistogram', () => {
  const buckets = [0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300];

  it("exposes exactly what prom-client's Histogram does for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const weighted = new WeightedHistogram('lat_seconds', 'help text', ['pipeline'], buckets, ours);
    const reference = new Histogram({
      name: 'lat_seconds',
      help: 'help text',
      labelNames: ['pipeline'],
      buckets,
      registers: [theirs],
    });
    const observations: [string, number, number][] = [
      ['p', 0.05, 3],
      ['p', 0.051, 2],
      ['p', 1.25, 7],
      ['q', 400, 1],
      ['p', 0, 1],
      ['q', 2, 4],
    ];
    for (const [pipeline, value, n] of observations) {
      weighted.observe({ pipeline }, value, n);
      for (let k = 0; k < n; k++) reference.observe({ pipeline }, value);
    }
    expect(normalized(await ours.metrics())).toBe(normalized(await theirs.metrics()));
    weighted.reset();
    reference.reset();
    expect(normalized(await ours.metrics())).toBe(normalized(await theirs.metrics()));
  });

  it('refuses a value that is not a finite number, ignores a zero count', async () => {
    const registry = new Registry();
    const h = new WeightedHistogram('x_seconds', 'x', ['pipeline'], buckets, registry);
    expect(() => h.observe({ pipeline: 'p' }, Number.NaN, 1)).toThrow(TypeError);
    h.observe({ pipeline: 'p' }, 1, 0);
    expect(await registry.metrics()).not.toContain('x_seconds_count');
  });
});
