import type { SluiceProcess } from './sluice-process';

/** Prometheus text of a process, as `family{labels}` -> value. */
export type Metrics = Map<string, number>;

/** Scrapes /metrics into `family{labels}` -> value. */
export async function scrape(app: SluiceProcess): Promise<Metrics> {
  const { status, body } = await app.get('/metrics');
  if (status !== 200) throw new Error(`GET /metrics: ${status}`);
  const out = new Map<string, number>();
  for (const line of String(body).split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/**
 * Sum of every series of a family whose labels include `match` (each of them, when several:
 * e.g. a pipeline and another label, whatever their order in the series).
 */
export function total(
  metrics: Metrics,
  family: string,
  match: string | readonly string[] = '',
): number {
  const parts = typeof match === 'string' ? [match] : match;
  let sum = 0;
  for (const [series, value] of metrics) {
    if (!(series === family || series.startsWith(`${family}{`))) continue;
    if (parts.every((part) => series.includes(part))) sum += value;
  }
  return sum;
}

/** Actors of one pipeline that `sluice_actor_paused` shows held for `reason`. */
export function pausedActors(metrics: Metrics, pipeline: string, reason: string): number {
  let n = 0;
  for (const [series, value] of metrics) {
    if (!series.startsWith('sluice_actor_paused{')) continue;
    if (series.includes(`pipeline="${pipeline}"`) && series.includes(`reason="${reason}"`))
      n += value;
  }
  return n;
}

/**
 * Samples of the event-loop delay histogram (`sluice_event_loop_delay_seconds`) above 1 s: a
 * test takes it before and after what it causes, so a stall (a blocked owner) shows as a rise.
 */
export async function stallsOver1s(app: SluiceProcess): Promise<number> {
  const metrics = await scrape(app);
  const count = metrics.get('sluice_event_loop_delay_seconds_count');
  const upTo1s = metrics.get('sluice_event_loop_delay_seconds_bucket{le="1"}');
  if (count === undefined || upTo1s === undefined) throw new Error('no event-loop histogram');
  return count - upTo1s;
}
