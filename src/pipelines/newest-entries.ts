/** A stream entry id: `<ms>-<seq>`. */
export function compareIdsDesc(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map((part) => BigInt(part));
  const [bm = 0n, bs = 0n] = b.split('-').map((part) => BigInt(part));
  if (am !== bm) return am > bm ? -1 : 1;
  return as === bs ? 0 : as > bs ? -1 : 1;
}

/** One page to read: up to `count` entries of stream `stream` older than `before` ('+' = newest). */
export interface PageRequest {
  stream: number;
  before: string;
  count: number;
}

/**
 * The newest `limit` entries over several streams (e.g. a pipeline's per-partition dead-letter
 * streams), newest first, reading about `limit` plus one small page per stream in total, not
 * `limit` per stream: with 1024 partitions and limit 10 000 that is ~20 k entries, not 10 M.
 *
 * Rounds: each stream still holding unread entries gives a page of its newest unread ones. An
 * entry at least as new as every such stream's oldest read entry (its frontier) is newer than
 * anything unread, so it is final; the rest wait for the next round.
 */
export async function newestAcross<T extends { id: string }>(
  streams: number,
  limit: number,
  readPages: (requests: PageRequest[]) => Promise<T[][]>,
): Promise<T[]> {
  const frontier = new Map<number, string>();
  for (let s = 0; s < streams; s++) frontier.set(s, '+');
  const result: T[] = [];
  let pool: T[] = [];
  while (result.length < limit && frontier.size > 0) {
    const remaining = limit - result.length;
    const count = Math.max(1, Math.ceil(remaining / frontier.size));
    const requests = [...frontier].map(([stream, before]) => ({ stream, before, count }));
    const pages = await readPages(requests);
    requests.forEach(({ stream }, i) => {
      const page = pages[i] ?? [];
      pool.push(...page);
      const last = page[page.length - 1];
      if (page.length < count || last === undefined) frontier.delete(stream);
      else frontier.set(stream, last.id);
    });
    pool.sort((a, b) => compareIdsDesc(a.id, b.id));
    // The newest frontier: every unread entry is older than it.
    const newestFrontier = [...frontier.values()].sort(compareIdsDesc)[0];
    const final =
      newestFrontier === undefined
        ? pool.length
        : pool.findIndex((entry) => compareIdsDesc(entry.id, newestFrontier) > 0);
    const take = Math.min(final === -1 ? pool.length : final, remaining);
    result.push(...pool.slice(0, take));
    pool = pool.slice(take);
  }
  return result;
}
