import {
  judgeProbe,
  maxSustained,
  nextRate,
  record,
  SEARCH_DEFAULTS,
  type ProbeFacts,
  type SearchState,
} from './bench-search';

const lag = (...events: number[]) => events.map((e, i) => ({ t: (i + 1) * 5, events: e }));

function facts(over: Partial<ProbeFacts> = {}): ProbeFacts {
  return {
    rate: 10_000,
    holdSeconds: 60,
    // 12 samples every 5 s: the 1/3 mark is t = 20 (the 4th sample).
    lag: lag(
      5_000,
      20_000,
      15_000,
      12_000,
      18_000,
      9_000,
      14_000,
      20_000,
      11_000,
      16_000,
      25_000,
      30_000,
    ),
    p99Ms: 1_200,
    producerAtRate: true,
    inputLost: false,
    ...over,
  };
}

describe('find-max-sustained: one probe', () => {
  it('passes with a lag that swings but ends within the slack of its 1/3-mark value', () => {
    // 30,000 at the end <= 12,000 at t = 20 + 2 s of input (20,000).
    const v = judgeProbe(facts());
    expect(v).toEqual({
      pass: true,
      reasons: [],
      lagAtThird: 12_000,
      lagAtEnd: 30_000,
      slackEvents: 20_000,
    });
  });

  it('fails a lag that ends past the 1/3 mark plus the slack', () => {
    const v = judgeProbe(facts({ lag: lag(5_000, 8_000, 10_000, 12_000, 20_000, 32_001) }));
    expect(v.pass).toBe(false);
    expect(v.reasons).toEqual([
      'lag growing: 32,001 events at the end > 12,000 at the 1/3 mark + 20,000 slack',
    ]);
  });

  it('fails p99 at or above the limit, input lost, a producer below rate, and other errors', () => {
    expect(judgeProbe(facts({ p99Ms: 1_500 })).reasons).toEqual(['p99 1500 ms >= 1500 ms']);
    expect(judgeProbe(facts({ p99Ms: 1_499 })).pass).toBe(true);
    expect(judgeProbe(facts({ inputLost: true })).reasons).toEqual(['input lost at the source']);
    expect(judgeProbe(facts({ producerAtRate: false })).reasons).toEqual([
      'the bench producer did not reach the asked rate',
    ]);
    expect(judgeProbe(facts({ error: '3 lost ids' })).reasons).toEqual(['3 lost ids']);
    expect(judgeProbe(facts({ lag: lag(0) })).reasons).toEqual([
      'fewer than 2 lag samples: hold too short',
    ]);
  });

  it('uses the given limit and slack', () => {
    expect(judgeProbe(facts({ p99Ms: 1_900 }), 2_000).pass).toBe(true);
    expect(judgeProbe(facts(), 1_500, 1).reasons[0]).toMatch(/^lag growing: 30,000 events/);
  });
});

describe('find-max-sustained: the search', () => {
  const opts = { ...SEARCH_DEFAULTS, start: 40_000, max: 200_000, min: 5_000, maxProbes: 10 };

  /** Runs the search against a system that keeps up with exactly `capacity` events/s. */
  function search(capacity: number, o = opts): { state: SearchState; rates: number[] } {
    let state: SearchState = { probes: [] };
    const rates: number[] = [];
    for (let rate = nextRate(state, o); rate !== undefined; rate = nextRate(state, o)) {
      rates.push(rate);
      state = record(state, rate, rate <= capacity);
    }
    return { state, rates };
  }

  it('grows while probes pass, then bisects to within the resolution', () => {
    const { state, rates } = search(75_000);
    expect(rates).toEqual([40_000, 60_000, 90_000, 75_000, 83_000, 79_000]);
    expect(maxSustained(state)).toBe(75_000);
  });

  it('shrinks from the start when the first probe fails', () => {
    const { state, rates } = search(20_000);
    expect(rates).toEqual([40_000, 27_000, 18_000, 23_000, 21_000, 20_000]);
    expect(maxSustained(state)).toBe(20_000);
  });

  it('stops at the cap and at the floor', () => {
    expect(search(1e9).rates).toEqual([40_000, 60_000, 90_000, 135_000, 200_000]);
    expect(maxSustained(search(1e9).state)).toBe(200_000);
    const none = search(1_000);
    expect(none.rates).toEqual([40_000, 27_000, 18_000, 12_000, 8_000, 5_000]);
    expect(maxSustained(none.state)).toBe(0);
  });

  it('stops after maxProbes, answering the highest pass so far', () => {
    const { state, rates } = search(75_000, { ...opts, maxProbes: 3 });
    expect(rates).toEqual([40_000, 60_000, 90_000]);
    expect(maxSustained(state)).toBe(60_000);
  });

  it('a noisy pass above a fail ends the search at the higher pass', () => {
    let state: SearchState = { probes: [] };
    state = record(state, 40_000, true);
    state = record(state, 60_000, false);
    state = record(state, 50_000, true);
    state = record(state, 55_000, false);
    // A rerun of a rate near the fail passed by noise: the gap is closed, the answer is the pass.
    state = record(state, 58_000, true);
    expect(nextRate(state, opts)).toBeUndefined();
    expect(maxSustained(state)).toBe(58_000);
  });
});
