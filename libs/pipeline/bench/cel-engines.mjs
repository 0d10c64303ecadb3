// Micro-benchmark that picked Sluice's CEL engine: compile once, evaluate many times over
// realistic JSON events, for @marcbachmann/cel-js and @bufbuild/cel side by side.
// Plain ESM on purpose: it runs with `node libs/pipeline/bench/cel-engines.mjs` (no build step)
// and imports both engines natively (@marcbachmann/cel-js ships ESM only). After `npm run build`
// it also measures Sluice's own wrapper (libs/pipeline/src/expr, with the field-path fast path).
//   EVENTS=200000 ROUNDS=5 node libs/pipeline/bench/cel-engines.mjs
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Environment } from '@marcbachmann/cel-js';
import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';

const EVENTS = Number(process.env.EVENTS ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const EXPRESSIONS = [
  "amount > 0 && action != 'test'",
  'int(amount * 100.0)',
  "user_id + ':' + project",
  'user.id',
];

// Shaped like the demo's events; amount mixes JSON integers and decimals, as real data does.
function makeEvents(n) {
  const actions = ['view', 'click', 'buy', 'test'];
  const events = new Array(n);
  for (let i = 0; i < n; i++) {
    const json = JSON.stringify({
      event_id: `e-${i}`,
      ts: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      user_id: `u-${i % 5000}`,
      project: `p-${i % 37}`,
      action: actions[i % actions.length],
      amount: i % 3 === 0 ? i % 500 : (i % 500) + 0.25,
      user: { id: i % 5000, name: `user ${i % 5000}` },
    });
    events[i] = JSON.parse(json);
  }
  return events;
}

const engines = {
  'marcbachmann/cel-js': () => {
    const env = new Environment({ unlistedVariablesAreDyn: true });
    return (src) => {
      const fn = env.parse(src);
      return (event) => fn(event);
    };
  },
  'bufbuild/cel': () => {
    const env = celEnv();
    return (src) => {
      const fn = plan(env, parse(src));
      return (event) => {
        const r = fn(event);
        if (isCelError(r)) throw r;
        return r;
      };
    };
  },
};

const built = fileURLToPath(
  new URL('../../../dist/libs/pipeline/src/expr/index.js', import.meta.url),
);
if (existsSync(built)) {
  const { compileExpression } = createRequire(import.meta.url)(built);
  engines['sluice expr (built)'] = () => (src) => {
    const result = compileExpression(src);
    if (!result.ok) throw result.error;
    const expr = result.expression;
    return (event) => expr.evaluate(event);
  };
}

function time(fn, events) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < events.length; i++) if (fn(events[i]) != null) sink++;
  const ns = Number(process.hrtime.bigint() - start);
  if (sink < 0) console.log(sink);
  return ns;
}

const events = makeEvents(EVENTS);
console.log(`node ${process.version}, ${EVENTS} events, best of ${ROUNDS} rounds after warm-up`);
console.log(
  'expression'.padEnd(34),
  'engine'.padEnd(22),
  'ns/eval'.padStart(8),
  'Mevals/s'.padStart(9),
);
for (const src of EXPRESSIONS) {
  for (const [name, make] of Object.entries(engines)) {
    const fn = make()(src);
    time(fn, events); // warm-up: let the JIT settle
    let best = Infinity;
    for (let r = 0; r < ROUNDS; r++) best = Math.min(best, time(fn, events));
    const perEval = best / EVENTS;
    console.log(
      src.padEnd(34),
      name.padEnd(22),
      perEval.toFixed(0).padStart(8),
      (1e3 / perEval).toFixed(2).padStart(9),
    );
  }
}
