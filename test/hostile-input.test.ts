import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { connectProducer } from './support/events';
import { createJoinTable, joinPipeline } from './support/join-fixture';
import {
  clickhouse,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  pipelineView,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { stallsOver1s } from './support/metrics';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// README "Input rules": every bad message below is dead-lettered with its reason while the events
// around it are written and its partition keeps moving, also when it is the first message of its
// partition and inside a join. Before these rules, the deep message stalled its partition for
// good (the consumer's encoder threw on every retry), invalid UTF-8 was written as U+FFFD, the
// long digit string blocked the owner in a quadratic regex and was then written as inf, and the
// inexact Decimal was written rounded.

const MAX_MESSAGE_BYTES = 65_536;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const DEPTH_REASON = 'nested too deeply: more than 128 levels of objects and arrays';

/** A bad message of each kind around `fields`, the JSON members of an otherwise good event. */
const BAD = {
  // 4 KB nested 2,000 levels deep, as in issue 17.
  deep: (fields: string) => Buffer.from(`{${fields},"x":${'['.repeat(2_000)}${']'.repeat(2_000)}}`),
  utf8: (fields: string) =>
    Buffer.concat([
      Buffer.from(`{${fields},"s":"caf`),
      Buffer.from([0xc3, 0x28, 0xff]), // a broken two-byte sequence, then a byte never in UTF-8
      Buffer.from('"}'),
    ]),
  oversize: (fields: string) => Buffer.from(`{${fields},"pad":"${'x'.repeat(100_000)}"}`),
};

interface DeadLetter {
  stage: string;
  error: string;
  topic: string;
  partition: number | null;
  offset: number | null;
  message: string;
  messageEncoding?: 'base64';
}

async function deadLetters(app: SluiceProcess, id: string): Promise<DeadLetter[]> {
  const { status, body } = await app.get(`/api/v1/pipelines/${id}/dlq?limit=1000`);
  if (status !== 200) throw new Error(`GET dlq: ${status}`);
  return (body as DeadLetter[]).sort(
    (a, b) => (a.partition ?? 0) - (b.partition ?? 0) || (a.offset ?? 0) - (b.offset ?? 0),
  );
}

async function send(
  producer: Producer,
  topic: string,
  partition: number,
  values: readonly Buffer[],
): Promise<void> {
  // One message a send: the mock broker's batches stay small and the order is the list's.
  for (const value of values) await producer.send({ topic, messages: [{ partition, value }] });
}

/** The stored bytes of a dead letter's message. */
const bytesOf = (d: DeadLetter) =>
  Buffer.from(d.message, d.messageEncoding === 'base64' ? 'base64' : 'utf8');

describe('hostile input end to end', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let producer: Producer;
  let closeProducer: () => Promise<void>;
  const pipelines: string[] = [];
  let stallsBefore = 0;

  beforeAll(async () => {
    ch = clickhouse();
    ({ producer, close: closeProducer } = await connectProducer(env.KAFKA_BROKERS));
    app = await SluiceProcess.start({
      env: { ...env, MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) },
    });
  });
  beforeEach(async () => {
    // Start-up may stall (module loading, WASM compiles); only what the test causes counts.
    stallsBefore = await stallsOver1s(app as SluiceProcess);
  });
  afterEach(async () => {
    // No event-loop stall over 1 s while the bad messages went through (the long digit string
    // blocked the owner in a quadratic regex before these rules).
    if (app?.running) expect((await stallsOver1s(app)) - stallsBefore).toBe(0);
  });
  afterAll(async () => {
    for (const id of pipelines) if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await closeProducer();
    await ch.close();
  });

  it('dead-letters each bad message with its reason and writes every event around it', async () => {
    const running = app as SluiceProcess;
    const topic = uniqueName('hostile');
    const table = uniqueName('hostile');
    const id = uniquePipelineId('hostile');
    pipelines.push(id);
    // One Kafka partition per kind of bad message: it comes first, then again in the middle.
    const kinds = ['deep', 'utf8', 'oversize', 'float', 'decimal'] as const;
    await createSourceTopic(topic, kinds.length);
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), amount Float64,
                price Decimal(38, 2)) ENGINE = MergeTree ORDER BY event_id
              SETTINGS non_replicated_deduplication_window = 10000`,
    });
    await postPipeline(running, dedupPipeline(id, topic, table, 4));

    const good = (p: number, i: number) =>
      Buffer.from(
        JSON.stringify({
          event_id: `g-${p}-${i}`,
          ts: iso(T0 + i),
          amount: 1.5,
          price: i % 2 === 0 ? 12.34 : '12.34',
        }),
      );
    const bad = (kind: (typeof kinds)[number], tag: string): Buffer => {
      const base = `"event_id":"${tag}","ts":"${iso(T0)}"`;
      switch (kind) {
        case 'float':
          // 60k digits: under MAX_MESSAGE_BYTES, so the conversion itself must refuse it.
          return Buffer.from(`{${base},"amount":"${'1'.repeat(60_000)}","price":1}`);
        case 'decimal':
          return Buffer.from(`{${base},"amount":1,"price":12345678901234567890.12}`);
        default:
          return BAD[kind](`${base},"amount":1,"price":1`);
      }
    };
    const sent = new Map<string, Buffer>();
    for (const [p, kind] of kinds.entries()) {
      const first = bad(kind, `${kind}-first`);
      const middle = bad(kind, `${kind}-middle`);
      sent.set(`${p}/0`, first);
      sent.set(`${p}/21`, middle);
      const values = [first];
      for (let i = 0; i < 20; i += 1) values.push(good(p, i));
      values.push(middle);
      for (let i = 20; i < 40; i += 1) values.push(good(p, i));
      await send(producer, topic, p, values);
    }

    const counters = await waitForSettled(running, id, kinds.length * 42, 60_000);
    expect(counters).toMatchObject({ consumed: 210, written: 200, deadLettered: 10 });
    const ids = await tableIds(ch, table);
    expect(ids.size).toBe(200);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);

    const letters = await deadLetters(running, id);
    expect(letters.map((d) => `${d.partition}/${d.offset}`)).toEqual([...sent.keys()]);
    for (const letter of letters) {
      const kind = kinds[letter.partition ?? -1];
      const original = sent.get(`${letter.partition}/${letter.offset}`) as Buffer;
      expect(letter.topic).toBe(topic);
      switch (kind) {
        case 'deep':
          expect(letter).toMatchObject({ stage: 'parse', error: DEPTH_REASON });
          expect(bytesOf(letter).equals(original)).toBe(true);
          break;
        case 'utf8':
          // Byte for byte, not with U+FFFD in place of the producer's bytes.
          expect(letter).toMatchObject({ stage: 'parse', messageEncoding: 'base64' });
          expect(letter.error).toMatch(/^invalid UTF-8 at byte \d+; the original bytes are kept$/);
          expect(bytesOf(letter).equals(original)).toBe(true);
          break;
        case 'oversize':
          expect(letter).toMatchObject({ stage: 'parse', message: '' });
          expect(letter.error).toMatch(
            new RegExp(
              `^message of ${original.length} bytes is larger than MAX_MESSAGE_BYTES \\(65536\\)`,
            ),
          );
          break;
        case 'float':
          expect(letter.stage).toBe('transform');
          expect(letter.error).toMatch(
            /amount.*a number text of 60000 characters is longer than the 1000 allowed/,
          );
          break;
        case 'decimal':
          expect(letter.stage).toBe('transform');
          expect(letter.error).toMatch(
            /price.*cannot be exact as a JSON number.*send it as a string/,
          );
          break;
        default:
          throw new Error(`unexpected dead letter ${JSON.stringify(letter)}`);
      }
    }
    // No partition stalled: the consumer group committed every offset.
    await running.waitFor(async () => (await pipelineView(running, id)).lag === 0, 30_000, 'lag 0');
  });

  it('does the same inside a join pipeline', async () => {
    const running = app as SluiceProcess;
    const orders = uniqueName('hostile_orders');
    const customers = uniqueName('hostile_customers');
    const table = uniqueName('hostile_joined');
    const id = uniquePipelineId('hostile-join');
    pipelines.push(id);
    await createSourceTopic(orders, 2);
    await createSourceTopic(customers, 1);
    await createJoinTable(ch, table);
    await postPipeline(
      running,
      joinPipeline({ id, orders, customers, table, type: 'inner', window: '1m', lateness: '30m' }),
    );

    const customerValues = Array.from({ length: 10 }, (_, c) =>
      Buffer.from(
        JSON.stringify({
          id: `c${c}`,
          version: 1,
          name: `n${c}`,
          tier: 'gold',
          updated_at: iso(T0),
        }),
      ),
    );
    await send(producer, customers, 0, customerValues);
    const order = (i: number) =>
      Buffer.from(
        JSON.stringify({
          order_id: `o${i}`,
          customer_id: `c${i % 10}`,
          amount: 12.5,
          region: 'L',
          ts: iso(T0 + i * 1_000),
        }),
      );
    const fields = (tag: string) =>
      `"order_id":"${tag}","customer_id":"c1","amount":1,"region":"L","ts":"${iso(T0)}"`;
    const bad = (tag: string) => [
      BAD.deep(fields(`${tag}-deep`)),
      BAD.utf8(fields(`${tag}-utf8`)),
      BAD.oversize(fields(`${tag}-oversize`)),
    ];
    // Partition 0 starts with the bad messages; partition 1 has them between its orders.
    const p0 = [...bad('first')];
    const p1: Buffer[] = [];
    for (let i = 0; i < 40; i += 1) {
      if (i % 2 === 0) p0.push(order(i));
      else p1.push(order(i));
      if (i === 19) p1.push(...bad('middle'));
    }
    await send(producer, orders, 0, p0);
    await send(producer, orders, 1, p1);

    const written = async () => {
      const result = await ch.query({
        query: `SELECT order_id FROM ${table}`,
        format: 'JSONEachRow',
      });
      return (await result.json<{ order_id: string }>()).map((r) => r.order_id).sort();
    };
    // Waits for all 40 (a stalled partition never gets there), then checks them.
    await running
      .waitFor(async () => (await written()).length >= 40, 60_000, 'every order joined')
      .catch(() => undefined);
    expect(await written()).toEqual(Array.from({ length: 40 }, (_, i) => `o${i}`).sort());

    const letters = await deadLetters(running, id);
    expect(letters.map((d) => [d.stage, d.partition, d.offset])).toEqual([
      ['parse', 0, 0],
      ['parse', 0, 1],
      ['parse', 0, 2],
      ['parse', 1, 10],
      ['parse', 1, 11],
      ['parse', 1, 12],
    ]);
    expect(letters.map((d) => d.error.split(':')[0]?.split(' ')[0])).toEqual([
      'nested',
      'invalid',
      'message',
      'nested',
      'invalid',
      'message',
    ]);
    expect(bytesOf(letters[1] as DeadLetter).equals(bad('first')[1] as Buffer)).toBe(true);
    await running.waitFor(async () => (await pipelineView(running, id)).lag === 0, 30_000, 'lag 0');
  });
});
