import { isUtf8 } from 'node:buffer';
import { compileConverter } from '../convert/converters';
import { formatDigits, splitDecimal } from '../convert/decimal';
import { parseType } from '../convert/types';
import { isKeyValue, keyText } from '../expr';
import { decodeMailboxEntry, encodeMailboxEntry, type MailboxEvent } from '../mailbox/entry';
import { entryBuilder, releaseEntryBuilder } from '../mailbox/entry-builder';
import { depthExceeds, firstBadUtf8, MAX_JSON_DEPTH } from '../mailbox/input-rules';
import { scanJsonObject, UNSURE, VALID } from '../mailbox/key-scan';
import {
  depthOf,
  plainKey,
  randomObject,
  randomString,
  randomValue,
  Rng,
  writeJson,
} from './random-json';

/**
 * Properties of the input path with JSON.parse / JSON.stringify (and BigInt arithmetic) as the
 * oracle, over seeded random inputs. Each check runs `rounds` rounds from `seed` and throws with
 * the seed and the counterexample on the first disagreement. The unit specs run a few seconds of
 * them; `node dist/tools/fuzz-input.js` runs them for as long as asked (README "Input rules").
 */
export type Check = (seed: number, rounds: number) => void;

function fail(check: string, seed: number, input: unknown, detail: string): never {
  throw new Error(
    `${check} (seed ${seed}): ${detail}; input ${JSON.stringify(input)?.slice(0, 500)}`,
  );
}

const FIELD = 'event_id';
const FIELD_BYTES = Buffer.from(FIELD);

/** The key scanner answers only what JSON.parse would give, and never past the depth rule. */
export const keyScanAgreesWithJsonParse: Check = (seed, rounds) => {
  const rng = new Rng(seed);
  let answered = 0;
  for (let round = 0; round < rounds; round += 1) {
    const object = randomObject(rng, rng.chance(0.2) ? 124 + rng.int(10) : 1 + rng.int(6));
    if (rng.chance(0.6)) object[FIELD] = plainKey(rng);
    const text = writeJson(rng, object);
    let bytes = Buffer.from(text);
    if (rng.chance(0.3)) {
      // A damaged copy: one byte changed, added or removed.
      const at = rng.int(bytes.length);
      const byte = rng.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x31, 0x65]);
      const kind = rng.int(3);
      if (kind === 0) bytes[at] = byte;
      else if (kind === 1)
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.of(byte), bytes.subarray(at)]);
      else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    }
    let parsed: unknown;
    let valid = true;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      valid = false;
    }
    const isObject =
      valid && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
    for (const field of [FIELD_BYTES, undefined]) {
      const scanned = scanJsonObject(bytes, field);
      if (scanned === UNSURE) continue;
      if (!isObject)
        fail('keyScan', seed, bytes.toString(), `answered ${String(scanned)} for non-object`);
      if (depthExceeds(bytes, MAX_JSON_DEPTH))
        fail('keyScan', seed, bytes.toString(), 'answered past the depth rule');
      const record = parsed as Record<string, unknown>;
      const expected =
        field === undefined
          ? VALID
          : Object.hasOwn(record, FIELD) && isKeyValue(record[FIELD])
            ? keyText(record[FIELD])
            : undefined;
      if (scanned !== expected) {
        fail('keyScan', seed, bytes.toString(), `${String(scanned)} vs ${String(expected)}`);
      }
      if (field !== undefined) answered += 1;
    }
  }
  // Not vacuous: the scanner must read a fair share of the keys itself.
  if (answered < rounds / 10)
    fail('keyScan', seed, answered, `answered only ${answered} of ${rounds}`);
};

/** depthExceeds agrees with the depth of the parsed value, whatever brackets strings hold. */
export const depthRuleAgreesWithValue: Check = (seed, rounds) => {
  const rng = new Rng(seed);
  let tooDeep = 0;
  for (let round = 0; round < rounds; round += 1) {
    const value = randomValue(rng, rng.chance(0.3) ? 124 + rng.int(10) : 1 + rng.int(20));
    const bytes = Buffer.from(writeJson(rng, value));
    const depth = depthOf(JSON.parse(bytes.toString()));
    if (depth > MAX_JSON_DEPTH) tooDeep += 1;
    for (const limit of [depth - 1, depth, MAX_JSON_DEPTH]) {
      if (limit >= 0 && depthExceeds(bytes, limit) !== depth > limit) {
        fail('depth', seed, bytes.toString(), `depth ${depth}, limit ${limit}`);
      }
    }
  }
  if (tooDeep < rounds / 100) fail('depth', seed, tooDeep, 'too few values past the limit');
};

/** firstBadUtf8 agrees with Node's isUtf8 and a fatal TextDecoder. */
export const utf8RuleAgreesWithDecoder: Check = (seed, rounds) => {
  const rng = new Rng(seed);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let round = 0; round < rounds; round += 1) {
    let bytes = Buffer.from(randomString(rng, 20));
    if (rng.chance(0.7)) {
      const at = rng.int(bytes.length + 1);
      const junk = Buffer.from(
        Array.from({ length: 1 + rng.int(3) }, () =>
          rng.pick([
            0x80,
            0xbf,
            0xc0,
            0xc2,
            0xe0,
            0xed,
            0xa0,
            0xf0,
            0xf4,
            0x90,
            0xf5,
            0xff,
            rng.int(256),
          ]),
        ),
      );
      bytes = Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]);
    }
    let decodes = true;
    try {
      decoder.decode(bytes);
    } catch {
      decodes = false;
    }
    const bad = firstBadUtf8(bytes);
    if (isUtf8(bytes) !== decodes || (bad === bytes.length) !== decodes) {
      fail(
        'utf8',
        seed,
        bytes.toString('hex'),
        `isUtf8 ${isUtf8(bytes)}, decoder ${decodes}, first bad ${bad}`,
      );
    }
    if (!isUtf8(bytes.subarray(0, bad)))
      fail('utf8', seed, bytes.toString('hex'), `prefix to ${bad} not UTF-8`);
  }
};

/** An event as the oracle sees it: JSON.stringify of its fields in one order. */
function canonical(event: MailboxEvent): string {
  const value: unknown =
    event.json === undefined ? event.value : JSON.parse(Buffer.from(event.json).toString());
  const raw = event.rawBytes === undefined ? null : Buffer.from(event.rawBytes).toString('base64');
  return JSON.stringify([
    event.offset,
    event.timestamp,
    value ?? null,
    event.raw ?? null,
    raw,
    event.error ?? null,
    event.key ?? null,
    event.traceparent ?? null,
  ]);
}

/** Every encoder's entry decodes to the events it was given (JSON ones as JSON.parse reads them). */
export const entryCodecRoundTrips: Check = (seed, rounds) => {
  const rng = new Rng(seed);
  for (let round = 0; round < rounds; round += 1) {
    const events: MailboxEvent[] = [];
    let offset = rng.pick([0, 5, 2 ** 40]);
    for (let i = 0, n = rng.int(40); i < n; i += 1) {
      const event: MailboxEvent = { offset, timestamp: 1_700_000_000_000 + rng.int(1e6) - 5e5 };
      const kind = rng.int(6);
      const object = randomObject(rng, 1 + rng.int(5));
      if (kind === 0) event.value = JSON.parse(JSON.stringify(object));
      else if (kind === 1) Object.assign(event, { raw: randomString(rng), error: 'invalid JSON' });
      else if (kind === 2)
        Object.assign(event, {
          rawBytes: Buffer.from([0x7b, rng.int(256), 0xff]),
          error: 'invalid UTF-8',
        });
      else event.json = Buffer.from(writeJson(rng, object));
      if (rng.chance(0.3)) event.key = randomString(rng);
      if (rng.chance(0.2)) event.traceparent = randomString(rng);
      events.push(event);
      offset += 1 + rng.int(rng.chance(0.1) ? 100_000 : 3);
    }
    const head = {
      topic: rng.pick(['t', 'tópico']),
      partition: rng.int(8),
      generation: rng.int(9),
      from: 0,
      to: offset,
      ...(rng.chance(0.3) && { maxTime: rng.int(1e9), caughtUp: rng.chance(0.5), partitions: 4 }),
    };
    const expected = events.map(canonical);
    const builder = entryBuilder();
    for (const event of events) builder.add(event);
    const encodings: [string, Buffer[]][] = [
      ['encodeMailboxEntry v3', [encodeMailboxEntry({ ...head, events }, 3)]],
      ['encodeMailboxEntry v2', [encodeMailboxEntry({ ...head, events }, 2)]],
      ['EntryBuilder.encode', [builder.encode(head)]],
      ['EntryBuilder.encodeParts', builder.encodeParts(head, 3, 600)],
    ];
    for (const [name, parts] of encodings) {
      const decoded = parts.flatMap((part) => decodeMailboxEntry(part).events).map(canonical);
      if (JSON.stringify(decoded) !== JSON.stringify(expected)) {
        const at = decoded.findIndex((d, i) => d !== expected[i]);
        fail('entryCodec', seed, { round, name }, `event ${at}: ${decoded[at]} vs ${expected[at]}`);
      }
    }
    releaseEntryBuilder(builder);
  }
};

// The regex the converter used before: quadratic on long digit runs, exact on short texts.
const OLD_FLOAT_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NUMBER_CHARS = ['0', '1', '5', '9', '.', '-', '+', 'e', 'E', ' ', 'x'];

function numberText(rng: Rng): string {
  let text = '';
  for (let i = 0, n = 1 + rng.int(25); i < n; i += 1) text += rng.pick(NUMBER_CHARS);
  return text;
}

/** Exact decimal rounding half away from zero to `scale` digits, in BigInt. */
function roundedText(text: string, scale: number): string | undefined {
  const d = splitDecimal(text);
  if (d === undefined) return undefined;
  const digits = `${d.int}${d.frac.padEnd(scale + 1, '0').slice(0, scale + 1)}`;
  let unscaled = BigInt(digits === '' ? '0' : digits);
  unscaled = (unscaled + 5n) / 10n;
  const body = unscaled.toString().padStart(scale + 1, '0');
  const int = body.slice(0, body.length - scale);
  const frac = body.slice(body.length - scale);
  return formatDigits(
    splitDecimal(`${d.negative && unscaled !== 0n ? '-' : ''}${int}.${frac}`) ?? d,
  );
}

const asDecimalText = (result: unknown) =>
  formatDigits(
    splitDecimal(typeof result === 'number' ? String(result) : String(result)) ?? {
      negative: false,
      int: 'NaN',
      frac: '',
    },
  );

/**
 * Float64 takes exactly the texts the old regex took, as Number() reads them, and numbers as
 * JSON.stringify writes them; Int64 texts agree with BigInt; Decimal texts round as BigInt does,
 * and a JSON number of at most 15 significant digits comes out as exactly the digits sent.
 */
export const convertersAgreeWithOracles: Check = (seed, rounds) => {
  const rng = new Rng(seed);
  const float = compileConverter(parseType('Float64'), 'f');
  const int64 = compileConverter(parseType('Int64'), 'i');
  const scale = 1 + (seed % 6);
  const decimal = compileConverter(parseType(`Decimal(38, ${scale})`), 'd');
  const attempt = (
    convert: (v: unknown) => unknown,
    v: unknown,
  ): { ok: boolean; value?: unknown } => {
    try {
      return { ok: true, value: convert(v) };
    } catch {
      return { ok: false };
    }
  };
  for (let round = 0; round < rounds; round += 1) {
    const text = numberText(rng);
    const f = attempt(float, text);
    if (
      f.ok !== OLD_FLOAT_TEXT.test(text) ||
      (f.ok && f.value !== Number(text) && f.value !== 'inf' && f.value !== '-inf')
    ) {
      fail('Float64', seed, text, `gave ${JSON.stringify(f)}`);
    }
    const n = Number(
      `${rng.chance(0.5) ? '-' : ''}${rng.int(1e9)}.${rng.int(1e9)}e${rng.int(40) - 20}`,
    );
    const fn = attempt(float, n);
    if (!fn.ok || JSON.stringify(fn.value) !== JSON.stringify(n))
      fail('Float64', seed, n, `gave ${JSON.stringify(fn)}`);

    const digits = `${rng.chance(0.3) ? '-' : ''}${'0'.repeat(rng.int(3))}${String(rng.int(10 ** rng.int(10)))}${String(rng.int(1e9)).repeat(rng.int(3))}`;
    const i = attempt(int64, digits);
    const big = BigInt(digits);
    const inRange = big >= -(2n ** 63n) && big < 2n ** 63n;
    if (i.ok !== inRange || (i.ok && String(i.value) !== big.toString()))
      fail('Int64', seed, digits, `gave ${JSON.stringify(i)}`);

    const intPart = String(rng.int(10 ** rng.int(9)));
    const fracPart = String(rng.int(10 ** rng.int(12))).padStart(rng.int(3), '0');
    const decimalText = `${rng.chance(0.3) ? '-' : ''}${intPart}${fracPart === '' ? '' : `.${fracPart}`}`;
    const expected = roundedText(decimalText, scale);
    const asText = attempt(decimal, decimalText);
    if (!asText.ok || asDecimalText(asText.value) !== expected) {
      fail(
        'Decimal text',
        seed,
        decimalText,
        `gave ${JSON.stringify(asText)}, expected ${expected}`,
      );
    }
    // As a JSON number: exact when it has at most 15 significant digits, refused otherwise.
    const significant = `${intPart}${fracPart}`.replace(/^0+/, '').replace(/0+$/, '').length;
    const parsed = JSON.parse(decimalText) as number;
    const asNumber = attempt(decimal, parsed);
    if (significant <= 15 && (!asNumber.ok || asDecimalText(asNumber.value) !== expected)) {
      fail(
        'Decimal number',
        seed,
        decimalText,
        `gave ${JSON.stringify(asNumber)}, expected ${expected}`,
      );
    }
    if (asNumber.ok && asDecimalText(asNumber.value) !== roundedText(String(parsed), scale)) {
      fail('Decimal number', seed, decimalText, `gave ${JSON.stringify(asNumber)}`);
    }
    // ...and written only when exact: 15 significant digits at most, or an integer up to 2^53.
    const kept = asNumber.ok ? asDecimalText(asNumber.value).replace(/[-.]/g, '') : '';
    const keptDigits = kept.replace(/^0+/, '').replace(/0+$/, '').length;
    if (asNumber.ok && keptDigits > 15 && !Number.isSafeInteger(parsed)) {
      fail(
        'Decimal number',
        seed,
        decimalText,
        `wrote ${JSON.stringify(asNumber.value)}, not exact`,
      );
    }
  }
  // Linear time: a long digit run (what made the old regex quadratic), then maybe a bad end.
  const long = `${'1'.repeat(50_000 + rng.int(50_000))}${rng.pick(['', 'x', '.5x', 'e', ' '])}`;
  for (const convert of [float, int64, decimal]) {
    const started = performance.now();
    if (attempt(convert, long).ok) fail('long text', seed, long.slice(0, 50), 'accepted');
    const ms = performance.now() - started;
    if (ms > 500) fail('long text', seed, long.slice(0, 50), `took ${ms.toFixed(0)} ms`);
  }
};

export const INPUT_CHECKS: Readonly<Record<string, Check>> = {
  keyScanAgreesWithJsonParse,
  depthRuleAgreesWithValue,
  utf8RuleAgreesWithDecoder,
  entryCodecRoundTrips,
  convertersAgreeWithOracles,
};
