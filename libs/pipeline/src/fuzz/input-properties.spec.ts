import { entryCodecRoundTrips, INPUT_CHECKS } from './input-properties';

// A few seconds of each property in `npm test`; tools/fuzz-input.ts runs them for longer.
describe('input path properties (JSON.parse / JSON.stringify as the oracle)', () => {
  it.each(Object.entries(INPUT_CHECKS))('%s', (_name, check) => {
    for (let seed = 1; seed <= 4; seed += 1) check(seed, check === entryCodecRoundTrips ? 60 : 400);
  });
});
