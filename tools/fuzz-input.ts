/**
 * Runs the input-path properties (libs/pipeline/src/fuzz/input-properties.ts) for longer than
 * `npm test` does: `npm run build && node dist/tools/fuzz-input.js [seconds] [first seed]`
 * (default 60 s from seed 1000). Each round of checks takes the next seed; a failure prints the
 * check, the seed and the counterexample and exits 1, and the seed replays it.
 */
import { INPUT_CHECKS } from '@sluice/pipeline/fuzz/input-properties';

const ROUNDS = 500;

function main(): void {
  const seconds = Number(process.argv[2] ?? 60);
  let seed = Number(process.argv[3] ?? 1000);
  if (!(seconds > 0) || !Number.isSafeInteger(seed)) {
    console.error('usage: node dist/tools/fuzz-input.js [seconds] [first seed]');
    process.exit(2);
  }
  const deadline = Date.now() + seconds * 1000;
  const runs = new Map<string, number>();
  while (Date.now() < deadline) {
    for (const [name, check] of Object.entries(INPUT_CHECKS)) {
      try {
        check(seed, ROUNDS);
      } catch (err) {
        console.error(`FAILED ${name}: ${String(err)}`);
        process.exit(1);
      }
      runs.set(name, (runs.get(name) ?? 0) + ROUNDS);
    }
    seed += 1;
  }
  for (const [name, rounds] of runs) console.log(`${name}: ${rounds} rounds passed`);
  console.log(`seeds up to ${seed - 1}`);
}

main();
