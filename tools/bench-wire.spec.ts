import { crc32c, produceErrors, writeRecordBatch } from './bench-wire';

// kafkajs's own decoder and CRC (the pinned 2.2.4), as the reference for the hand-written bytes.
/* eslint-disable @typescript-eslint/no-require-imports */
const Decoder = require('kafkajs/src/protocol/decoder') as new (buf: Buffer) => unknown;
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  d: unknown,
) => Promise<{
  lastOffsetDelta: number;
  firstTimestamp: string;
  records: { offset: string; value: Buffer; key: Buffer | null }[];
}>;
const kafkaCrc = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
/* eslint-enable @typescript-eslint/no-require-imports */

describe('crc32c', () => {
  it('matches the standard check value and kafkajs', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 131) & 0xff));
    expect(crc32c(bytes)).toBe(kafkaCrc(bytes));
  });
});

describe('writeRecordBatch', () => {
  it('writes a batch that kafkajs decodes to the same values, with a valid CRC', async () => {
    const values = Array.from({ length: 300 }, (_, i) =>
      Buffer.from(`{"event_id":"e${i}","pad":"${'x'.repeat(i % 200)}"}`),
    );
    const buf = Buffer.alloc(100_000);
    const end = writeRecordBatch(buf, 0, values, 1_763_700_000_000);
    const batch = buf.subarray(0, end);
    expect(batch.readUInt32BE(17)).toBe(crc32c(batch, 21));
    expect(batch.readInt32BE(8)).toBe(end - 12);
    const decoded = await decodeBatch(new Decoder(batch));
    expect(decoded.lastOffsetDelta).toBe(299);
    expect(decoded.firstTimestamp).toBe('1763700000000');
    expect(decoded.records.map((r) => r.value.toString())).toEqual(values.map(String));
    expect(decoded.records.map((r) => r.offset)).toEqual(values.map((_, i) => String(i)));
    expect(decoded.records.every((r) => r.key === null)).toBe(true);
  });
});

describe('produceErrors', () => {
  it('reads the partition error codes of a Produce v3 response', () => {
    const body = Buffer.alloc(4 + 4 + 2 + 1 + 4 + 2 * 22 + 4);
    let at = body.writeInt32BE(7, 0); // correlation id
    at = body.writeInt32BE(1, at);
    at = body.writeInt16BE(1, at);
    at += body.write('t', at);
    at = body.writeInt32BE(2, at);
    for (const [partition, code] of [
      [0, 0],
      [5, 6],
    ] as const) {
      at = body.writeInt32BE(partition, at);
      at = body.writeInt16BE(code, at);
      at += 16;
    }
    expect(produceErrors(body)).toEqual([{ partition: 5, code: 6 }]);
  });
});
