/**
 * Per-key cost of the dedup key hash on the actor's hot path: the 64-bit hash used before against
 * the 96-bit one (`Hasher.hash96`, low 64 and high 32 bits apart), each with the split into the
 * uint32 lanes the dedup table stores, and against the same 96 bits built as one bigint (the
 * first try: its shifts and ORs allocate, and cost more than the second hash). A micro-benchmark
 * for choosing the hash, not a test: numbers move with the machine.
 * Usage: `npm run build && node dist/tools/hash96-cost.js` (a few seconds).
 */
import { loadHasher } from '@sluice/pipeline';

const KEYS = 200_000;
const ROUNDS = 5;
const LANES = new DataView(new ArrayBuffer(16));

async function main(): Promise<void> {
  const hasher = await loadHasher();
  // Topic-scoped keys shaped like event ids (the scoping dedup-key.ts applies).
  const keys = Array.from(
    { length: KEYS },
    (_, i) => `orders\u0000${(i * 7919).toString(16).padStart(8, '0')}-4a1b-9c2d-${i}`,
  );
  const variants: Record<string, (key: string) => number> = {
    'hash64 + 2 lanes': (key) => {
      LANES.setBigUint64(0, hasher.hash64(key), true);
      return LANES.getUint32(0, true) ^ LANES.getUint32(4, true);
    },
    'hash96 + 3 lanes': (key) => {
      const hash = hasher.hash96(key);
      LANES.setBigUint64(0, hash.low, true);
      LANES.setUint32(8, hash.high, true);
      return LANES.getUint32(0, true) ^ LANES.getUint32(4, true) ^ LANES.getUint32(8, true);
    },
    'one 96-bit bigint + 3 lanes': (key) => {
      const { low, high } = hasher.hash96(key);
      const hash = (BigInt(high) << 64n) | low;
      LANES.setBigUint64(0, hash, true);
      LANES.setUint32(8, Number(hash >> 64n), true);
      return LANES.getUint32(0, true) ^ LANES.getUint32(4, true) ^ LANES.getUint32(8, true);
    },
  };
  const best = new Map<string, number>();
  let sink = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(variants)) {
      const started = process.hrtime.bigint();
      for (const key of keys) sink ^= run(key);
      const ns = Number(process.hrtime.bigint() - started) / KEYS;
      best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, ns));
    }
  }
  for (const [name, ns] of best) {
    process.stdout.write(`${name}: ${ns.toFixed(0)} ns/key (best of ${ROUNDS} rounds)\n`);
  }
  // Keeps the loop's result alive so the work is not optimised away.
  if (sink === 0.5) process.stdout.write('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
