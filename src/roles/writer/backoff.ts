/** First retry of a failed insert waits about this long; each later one doubles it... */
export const RETRY_BASE_MS = 500;
/** ...up to this cap, so a batch is retried at least this often while ClickHouse is away. */
export const RETRY_MAX_MS = 10_000;

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential, capped, with +-20%
 * jitter so the batches of a ClickHouse outage do not all come back in the same instant.
 */
export function retryDelayMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = RETRY_BASE_MS,
  maxMs = RETRY_MAX_MS,
): number {
  // 2^30 overflows nothing and is far past any cap; larger exponents would only risk Infinity.
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const delay = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(Math.min(maxMs, delay * (0.8 + 0.4 * random())));
}
