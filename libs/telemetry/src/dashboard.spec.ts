import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceMetrics } from './metrics';

describe('deploy/grafana dashboard', () => {
  it('queries only metric families Sluice exposes', async () => {
    const json = readFileSync(
      join(__dirname, '../../../deploy/grafana/sluice-dashboard.json'),
      'utf8',
    );
    const used = new Set(
      [...json.matchAll(/\bsluice_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')),
    );
    const metrics = new SluiceMetrics({ defaultMetrics: false });
    const exposed = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
    expect(used.size).toBeGreaterThanOrEqual(12);
  });
});
