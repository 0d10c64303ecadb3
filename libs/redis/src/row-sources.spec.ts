import { decodeForgets, encodeForgets } from './dedup-forgets';
import { RowSources, RowSourceWriter } from './row-sources';

/** A 96-bit value as the dedup state's key hash (low 64 bits, high 32). */
const k96 = (value: bigint) => ({
  low: BigInt.asUintN(64, value),
  high: Number(BigInt.asUintN(32, value >> 64n)),
});

/** A 96-bit key hash as 12 bytes, little endian. */
const hashBytes = (hash: bigint) => {
  const out = Buffer.alloc(12);
  out.writeBigUInt64LE(BigInt.asUintN(64, hash));
  out.writeUInt32LE(Number(hash >> 64n), 8);
  return out;
};

/** A 64-bit key hash as versions before 96-bit hashes wrote it. */
const hashBytes64 = (hash: bigint) => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(hash);
  return out;
};

describe('row sources', () => {
  it('reads back each row’s position and dedup key by index', () => {
    const writer = new RowSourceWriter(12);
    writer.add('orders', 3, 17, k96(2n ** 96n - 5n), 1_700_000_000_123);
    writer.add('customers', 0, 2 ** 40, undefined);
    writer.add('orders', 4, 0, k96(7n), 5);
    const { sourceTopics, sources } = writer.encode();
    writer.clear();
    expect(writer.count).toBe(0);
    const read = RowSources.read(sourceTopics, sources)!;
    expect(read.count).toBe(3);
    expect(read.at(0)).toEqual({
      topic: 'orders',
      partition: 3,
      offset: 17,
      key: { hash: hashBytes(2n ** 96n - 5n), time: 1_700_000_000_123 },
    });
    expect(read.at(1)).toEqual({ topic: 'customers', partition: 0, offset: 2 ** 40 });
    expect(read.at(2)?.key?.hash).toEqual(hashBytes(7n));
    expect(read.at(3)).toBeUndefined();
    expect(read.at(-1)).toBeUndefined();
  });

  it('reads a batch written with 64-bit key hashes before 96-bit ones', () => {
    // Version 1, H = 8: one keyed row (orders/3 @ 17, hash 2^64 - 5, time 1_700_000_000_123).
    const record = Buffer.alloc(15 + 8 + 8);
    record[0] = 1;
    record.writeUInt16LE(0, 1);
    record.writeUInt32LE(3, 3);
    record.writeDoubleLE(17, 7);
    record.writeBigUInt64LE(2n ** 64n - 5n, 15);
    record.writeDoubleLE(1_700_000_000_123, 23);
    const read = RowSources.read(['orders'], Buffer.concat([Buffer.from([1, 8]), record]))!;
    expect(read.count).toBe(1);
    expect(read.at(0)).toEqual({
      topic: 'orders',
      partition: 3,
      offset: 17,
      key: { hash: hashBytes64(2n ** 64n - 5n), time: 1_700_000_000_123 },
    });
  });

  it('keeps positions only without dedup, and grows past its first buffer', () => {
    const writer = new RowSourceWriter(0);
    for (let i = 0; i < 5_000; i++) writer.add('t', i % 7, i, k96(BigInt(i)), i);
    const { sourceTopics, sources } = writer.encode();
    const read = RowSources.read(sourceTopics, sources)!;
    expect(read.count).toBe(5_000);
    expect(read.at(4_999)).toEqual({ topic: 't', partition: 4_999 % 7, offset: 4_999 });
  });

  it('refuses what it cannot read', () => {
    expect(RowSources.read(undefined, undefined)).toBeUndefined();
    expect(RowSources.read(['t'], Buffer.from([9, 8]))).toBeUndefined();
    expect(RowSources.read(['t'], Buffer.from([1, 8, 0]))).toBeUndefined();
    expect(RowSources.read([1], Buffer.from([1, 0]))).toBeUndefined();
  });
});

describe('dedup forget list', () => {
  it('round-trips entries of 96- and 64-bit hashes and ignores a torn tail', () => {
    const keys = [
      { hash: hashBytes(5n), time: 1_700_000_000_000 },
      // A row recorded by a version before 96-bit hashes, refused after the upgrade.
      { hash: hashBytes64(2n ** 63n), time: 0 },
      { hash: hashBytes(2n ** 95n), time: 7 },
    ];
    const data = encodeForgets(keys);
    expect(data).toHaveLength(9 + 12 + 9 + 8 + 9 + 12);
    expect(decodeForgets(data)).toEqual(keys);
    expect(decodeForgets(Buffer.concat([data, data.subarray(0, 12)]))).toEqual(keys);
    expect(decodeForgets(Buffer.alloc(0))).toEqual([]);
  });
});
