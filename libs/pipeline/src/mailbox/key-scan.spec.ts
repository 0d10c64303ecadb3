import { isKeyValue, keyText } from '../expr';
import { scanJsonObject, UNSURE, VALID } from './key-scan';
import { depthExceeds, MAX_JSON_DEPTH } from './input-rules';

const FIELD = Buffer.from('event_id');

/** What routing computes today: JSON.parse of the decoded text, then the field's key text. */
function reference(bytes: Buffer, field: string | undefined): string | typeof VALID | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  if (field === undefined) return VALID;
  if (!Object.hasOwn(parsed, field)) return undefined;
  const value = (parsed as Record<string, unknown>)[field];
  return isKeyValue(value) ? keyText(value) : undefined;
}

/** The scanner may be unsure, but when it answers it must agree with the reference. */
function expectAgrees(bytes: Buffer): void {
  for (const field of ['event_id', undefined, 'naïve']) {
    const scanned = scanJsonObject(bytes, field === undefined ? undefined : Buffer.from(field));
    if (scanned === UNSURE) continue;
    const expected = reference(bytes, field);
    if (scanned !== expected) {
      throw new Error(
        `${JSON.stringify(bytes.toString('latin1'))} field ${field}: ${String(scanned)} vs ${String(expected)}`,
      );
    }
  }
}

const scan = (text: string, field: Uint8Array | null = FIELD) =>
  scanJsonObject(Buffer.from(text, 'utf8'), field ?? undefined);

describe('scanJsonObject', () => {
  it('reads string, number and boolean keys the way keyText prints the parsed value', () => {
    expect(scan('{"event_id":"abc-1","n":1}')).toBe('abc-1');
    expect(scan(' {\n"a" : {"x":[1,{"y":"}"}]}, "event_id" : 5.0 }\r\n')).toBe('5');
    expect(scan('{"event_id":-0}')).toBe('0');
    expect(scan('{"event_id":1e3}')).toBe('1000');
    expect(scan('{"event_id":12345678901234567890}')).toBe(String(Number('12345678901234567890')));
    expect(scan('{"event_id":true}')).toBe('true');
    expect(scan('{"event_id":"a","event_id":"b"}')).toBe('b');
    expect(scan('{"a":"é\\u00e9\\n","event_id":"k"}')).toBe('k');
    expect(scan('{}', null)).toBe(VALID);
    expect(scan('{"a":[],"b":{},"c":null}', null)).toBe(VALID);
  });

  it('takes any well-formed top-level key unless it could spell the field', () => {
    // No field asked: keys are only skipped, escapes and non-ASCII included.
    expect(scan('{"naïve":"日本","a\\u0062":{"ü":[1]}}', null)).toBe(VALID);
    // A non-ASCII byte cannot decode to an ASCII field's name; an escape could.
    expect(scan('{"naïve":"日本","event_id":"k"}')).toBe('k');
    expect(scan('{"event_id":"k","\\u0065vent_id":"j"}')).toBe(UNSURE);
    // A non-ASCII field is only matched among plain ASCII keys: unsure otherwise.
    expect(scan('{"naïve":"x"}', Buffer.from('naïve'))).toBe(UNSURE);
  });

  it("skips nesting up to the input rules' depth limit, many times over without state left behind", () => {
    // 2 * depth + 1 levels: 127 are within MAX_JSON_DEPTH (128), 129 are not, and the parse
    // path's own check (depthExceeds) draws the line at the same place.
    const nested = (depth: number) =>
      `{"a":${'[{"b":'.repeat(depth)}1${'}]'.repeat(depth)},"event_id":"k"}`;
    expect(MAX_JSON_DEPTH).toBe(128);
    expect(depthExceeds(Buffer.from(nested(63)), MAX_JSON_DEPTH)).toBe(false);
    expect(depthExceeds(Buffer.from(nested(64)), MAX_JSON_DEPTH)).toBe(true);
    for (let round = 0; round < 3; round += 1) {
      expect(scan(nested(63))).toBe('k');
      expect(scan(nested(64))).toBe(UNSURE);
      expect(scan('{"a":[[{"x":[1,2,{"y":{}}]}],[]],"event_id":2}')).toBe('2');
      expect(scan('{"a":[[{"x":[1,2,{"y":{}}]}],[],"event_id":2}')).toBe(UNSURE);
    }
  });

  it('is unsure of anything it cannot read exactly as JSON.parse would', () => {
    for (const text of [
      '',
      '[1]',
      '"x"',
      '{"event_id":"a"',
      '{"event_id":"a"} x',
      '{"event_id":"a",}',
      '{"event_id":null}',
      '{"event_id":{"a":1}}',
      '{"event_id":[1]}',
      '{"event_id":"a\\u0062"}',
      '{"event_id":"é"}',
      '{"event\\u005fid":"a"}',
      '{"event_id":1e400}',
      '{"event_id":01}',
      '{"event_id":1.}',
      '{"event_id":"a","b":tru}',
      '{"event_id":"a","b":"\\x"}',
      '{"event_id":"a","b":"\u0001"}',
      '{"other":1}',
      '\uFEFF{"event_id":"a"}',
      `{"event_id":"a","deep":${'['.repeat(128)}${']'.repeat(128)}}`,
    ]) {
      expect([text, scan(text)]).toEqual([text, UNSURE]);
    }
  });

  it('agrees with JSON.parse on mutated messages whenever it answers', () => {
    const seeds = [
      '{"event_id":"bench-000000042","ts":"2026-11-21T09:00:00.000Z","user_id":17,"amount":1.5,"tags":["a","b"],"meta":{"k":[1,{"z":null}]}}',
      '{"event_id":42,"s":"q\\"uote\\\\","u":"\\u00e9","ok":true,"no":false,"nil":null,"e":-1.25e-3}',
      '{"event_id":"x","naïve":"日本","event_id":"y"}',
    ].map((text) => Buffer.from(text, 'utf8'));
    const tricky = Buffer.from('{}[]",:\\ -0123456789eE.+truefalsenull\u0001\u00ff\n\t', 'latin1');
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    let answered = 0;
    for (const base of seeds) {
      expectAgrees(base);
      for (let round = 0; round < 3000; round += 1) {
        const bytes = Buffer.from(base);
        const mutations = 1 + random(3);
        let mutated = bytes;
        for (let m = 0; m < mutations; m += 1) {
          const at = random(mutated.length);
          const byte = tricky[random(tricky.length)] as number;
          const kind = random(3);
          if (kind === 0) mutated[at] = byte;
          else if (kind === 1) {
            mutated = Buffer.concat([
              mutated.subarray(0, at),
              Buffer.from([byte]),
              mutated.subarray(at),
            ]);
          } else mutated = Buffer.concat([mutated.subarray(0, at), mutated.subarray(at + 1)]);
        }
        expectAgrees(mutated);
        if (scanJsonObject(mutated, FIELD) !== UNSURE) answered += 1;
      }
    }
    // The mutations keep many messages valid: the scanner must answer for a fair share of them.
    expect(answered).toBeGreaterThan(500);
  });
});
