/**
 * `--find-max-sustained`: the highest offered rate a system keeps up with. Pure logic (no I/O):
 * the verdict on one probe (a sustained run at one rate) and the next rate to probe.
 *
 * A probe passes when, over its whole hold:
 * - the producer sent the asked rate (otherwise the run measured a lighter load than asked);
 * - no input was lost at the source (the broker dropped nothing unread) and rows were exact;
 * - the lag is bounded: the lag at the end of the hold is at most the lag at the 1/3 mark plus a
 *   slack of `slackS` seconds of input (batch windows make the sampled lag swing by about one
 *   batch window plus an insert: a system that keeps up ends where it was after its warm-up, one
 *   that does not ends higher by the rate it falls behind times two thirds of the hold);
 * - p99 of the end-to-end latency (produce time to row visible) is below `p99LimitMs`.
 *
 * The search starts at `start`, multiplies by `growth` while probes pass, then bisects between the
 * highest pass and the lowest fail until they are within `resolution` (a share of the pass) or
 * `maxProbes` probes were run. The answer is the highest rate that passed (0 if none did).
 */

export interface SearchOptions {
  start: number;
  /** Never probe above this (e.g. the machine's producer limit). */
  max: number;
  /** Never probe below this: a system failing here gets 0. */
  min: number;
  /** Factor while every probe passes (> 1). */
  growth: number;
  /** Stop when (lowest fail - highest pass) <= resolution * highest pass. */
  resolution: number;
  maxProbes: number;
  /** Probes are rounded to this many events/s. */
  step: number;
}

export const SEARCH_DEFAULTS: SearchOptions = {
  start: 40_000,
  max: 250_000,
  min: 2_000,
  growth: 1.5,
  resolution: 0.1,
  maxProbes: 6,
  step: 1_000,
};

/** What the bench measured in one probe (a sustained run). */
export interface ProbeFacts {
  rate: number;
  holdSeconds: number;
  /** Lag samples during the hold: seconds since the start, events sent and not yet rows. */
  lag: { t: number; events: number }[];
  p99Ms: number;
  producerAtRate: boolean;
  inputLost: boolean;
  /** Any other reason the run failed (lost or duplicate rows, timeouts, give-up). */
  error?: string;
}

export interface ProbeVerdict {
  pass: boolean;
  /** Why it failed (empty when it passed). */
  reasons: string[];
  /** The samples the lag rule compared (events). */
  lagAtThird: number;
  lagAtEnd: number;
  slackEvents: number;
}

export const P99_LIMIT_MS = 1_500;
export const LAG_SLACK_S = 2;

/** The sample closest to `t` seconds. */
function sampleAt(lag: ProbeFacts['lag'], t: number): number {
  let best = lag[0];
  for (const s of lag) if (best === undefined || Math.abs(s.t - t) < Math.abs(best.t - t)) best = s;
  return best?.events ?? 0;
}

export function judgeProbe(
  facts: ProbeFacts,
  p99LimitMs = P99_LIMIT_MS,
  slackS = LAG_SLACK_S,
): ProbeVerdict {
  const reasons: string[] = [];
  const slackEvents = Math.round(slackS * facts.rate);
  const lagAtThird = sampleAt(facts.lag, facts.holdSeconds / 3);
  const lagAtEnd = facts.lag[facts.lag.length - 1]?.events ?? 0;
  if (facts.error !== undefined) reasons.push(facts.error);
  if (facts.inputLost) reasons.push('input lost at the source');
  if (!facts.producerAtRate) reasons.push('the bench producer did not reach the asked rate');
  if (facts.lag.length < 2) reasons.push('fewer than 2 lag samples: hold too short');
  else if (lagAtEnd > lagAtThird + slackEvents)
    reasons.push(
      `lag growing: ${lagAtEnd.toLocaleString('en-US')} events at the end > ` +
        `${lagAtThird.toLocaleString('en-US')} at the 1/3 mark + ${slackEvents.toLocaleString('en-US')} slack`,
    );
  if (!(facts.p99Ms < p99LimitMs)) reasons.push(`p99 ${facts.p99Ms} ms >= ${p99LimitMs} ms`);
  return { pass: reasons.length === 0, reasons, lagAtThird, lagAtEnd, slackEvents };
}

export interface SearchState {
  /** Highest rate that passed, lowest that failed (undefined: none yet). */
  highestPass?: number;
  lowestFail?: number;
  probes: { rate: number; pass: boolean }[];
}

export function record(state: SearchState, rate: number, pass: boolean): SearchState {
  const probes = [...state.probes, { rate, pass }];
  if (pass) return { ...state, probes, highestPass: Math.max(rate, state.highestPass ?? 0) };
  return { ...state, probes, lowestFail: Math.min(rate, state.lowestFail ?? Infinity) };
}

/** The next rate to probe, or undefined when the search is done. */
export function nextRate(
  state: SearchState,
  opts: SearchOptions = SEARCH_DEFAULTS,
): number | undefined {
  const round = (r: number) => Math.max(opts.step, Math.round(r / opts.step) * opts.step);
  if (state.probes.length >= opts.maxProbes) return undefined;
  const { highestPass: pass, lowestFail: fail } = state;
  if (pass === undefined && fail === undefined) return round(Math.min(opts.start, opts.max));
  let next: number;
  if (fail === undefined) {
    if (pass === undefined || pass >= opts.max) return undefined;
    next = Math.min(opts.max, pass * opts.growth);
  } else if (pass === undefined) {
    if (fail <= opts.min) return undefined;
    next = Math.max(opts.min, fail / opts.growth);
  } else {
    if (fail - pass <= opts.resolution * pass) return undefined;
    next = (pass + fail) / 2;
  }
  const rounded = round(next);
  // Rounding can land on a rate already probed (a narrow gap): nothing new to learn.
  if (state.probes.some((p) => p.rate === rounded)) return undefined;
  return rounded;
}

/** The search's answer: the highest rate that passed, 0 if none did. */
export function maxSustained(state: SearchState): number {
  return state.highestPass ?? 0;
}
