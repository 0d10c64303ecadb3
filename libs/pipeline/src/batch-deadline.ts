// When an open batch closes for time. Every actor of a pipeline gets its rows from the same
// consumer appends, so with a plain "opened + maxDelay" deadline all of them open and close their
// batches in the same few milliseconds, for good: every maxDelay the process encodes all
// partitions' checkpoints at once and the writer receives one job per partition in the same
// instant, which queue behind each other (measured: 16 partitions flushing within 150 ms of each
// other, batch after batch, and the writer's queue wait the largest share of the latency).
// Instead each partition closes its batches on its own grid, phase-shifted by its share of
// maxDelay, so the flushes of a pipeline's partitions are spread evenly over every maxDelay.

/**
 * The time at which a batch opened at `openedAt` is due: the last grid point of `partition`
 * (`k * maxDelayMs + phase`, epoch ms) at or before `openedAt + maxDelayMs`, so a row never
 * waits longer than `maxDelayMs`; but not before `openedAt + maxDelayMs / 2`, so that a batch
 * opened just before a grid point is not closed almost empty (it then lasts half a step, and
 * the next one closes on the grid). Under a steady stream a batch opens right after the previous
 * one closed, on the grid, and lasts one grid step.
 */
export function batchDeadline(
  openedAt: number,
  maxDelayMs: number,
  partition: number,
  partitions: number,
): number {
  const latest = openedAt + maxDelayMs;
  if (maxDelayMs <= 1 || partitions <= 1) return latest;
  const phase = Math.floor(((partition % partitions) * maxDelayMs) / partitions);
  const onGrid = latest - mod(latest - phase, maxDelayMs);
  return Math.max(onGrid, openedAt + Math.ceil(maxDelayMs / 2));
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}
