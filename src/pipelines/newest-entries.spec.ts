import { compareIdsDesc, newestAcross, type PageRequest } from './newest-entries';

/** Streams in memory, each newest first, read the way XREVRANGE (before exclusive) reads them. */
function fakeStreams(streams: { id: string }[][]) {
  let read = 0;
  const readPages = (requests: PageRequest[]) => {
    const pages = requests.map(({ stream, before, count }) => {
      const all = streams[stream] ?? [];
      const start = before === '+' ? 0 : all.findIndex((e) => e.id === before) + 1;
      return all.slice(start, start + count);
    });
    read += pages.reduce((n, page) => n + page.length, 0);
    return Promise.resolve(pages);
  };
  return { readPages, read: () => read };
}

function streamsOf(count: number, perStream: (s: number) => number[]): { id: string }[][] {
  return Array.from({ length: count }, (_, s) =>
    perStream(s)
      .map((ms, i) => ({ id: `${ms}-${s * 1000 + i}` }))
      .sort((a, b) => compareIdsDesc(a.id, b.id)),
  );
}

function newestOf(streams: { id: string }[][], limit: number): string[] {
  return streams
    .flat()
    .sort((a, b) => compareIdsDesc(a.id, b.id))
    .slice(0, limit)
    .map((e) => e.id);
}

describe('newestAcross', () => {
  it('merges evenly spread streams, reading about the limit in total, not per stream', async () => {
    const streams = streamsOf(64, (s) => Array.from({ length: 200 }, (_, i) => i * 64 + s));
    const fake = fakeStreams(streams);
    const got = await newestAcross(64, 500, fake.readPages);
    expect(got.map((e) => e.id)).toEqual(newestOf(streams, 500));
    // Per partition it would have read 64 x 500 = 32 000.
    expect(fake.read()).toBeLessThan(2 * 500 + 64 * 2);
  });

  it('is exact when one stream holds the newest entries and others are empty or old', async () => {
    const streams = streamsOf(16, (s) =>
      s === 3 ? Array.from({ length: 300 }, (_, i) => 10_000 + i) : s % 2 ? [] : [s, s + 1],
    );
    const fake = fakeStreams(streams);
    const got = await newestAcross(16, 310, fake.readPages);
    expect(got.map((e) => e.id)).toEqual(newestOf(streams, 310));
    expect(fake.read()).toBeLessThan(400);
  });

  it('returns everything there is when the streams hold fewer than the limit', async () => {
    const streams = streamsOf(5, (s) => [s * 3, s * 3 + 1]);
    const got = await newestAcross(5, 100, fakeStreams(streams).readPages);
    expect(got.map((e) => e.id)).toEqual(newestOf(streams, 100));
    expect(await newestAcross(0, 10, fakeStreams([]).readPages)).toEqual([]);
  });

  it('stays exact for random streams', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 20; round++) {
      const streams = streamsOf(1 + Math.floor(random() * 20), () =>
        Array.from({ length: Math.floor(random() * 50) }, () => Math.floor(random() * 1000)),
      );
      const limit = 1 + Math.floor(random() * 200);
      const got = await newestAcross(streams.length, limit, fakeStreams(streams).readPages);
      expect(got.map((e) => e.id)).toEqual(newestOf(streams, limit));
    }
  });
});
