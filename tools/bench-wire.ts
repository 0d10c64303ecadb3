/**
 * The fixed-rate phases' producer: Produce v3 requests written by hand on one socket per partition
 * leader. kafkajs spent ~14 µs of CPU per event producing at 52k/s (a zeroed 512-byte encoder
 * and Long arithmetic per record), about 0.8 of the 2 cores the system under test shares with it,
 * so it sent only half of the asked events while Sluice ran. Here a send is a memcpy of each body
 * into one reused buffer, a few varints, and a CRC32C per partition: no per-record objects. Kept
 * to what the bench needs: no compression, no keys or headers, acks=1, no retries (a failed
 * partition fails the run; lost ids would show anyway).
 */
import { createConnection, type Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as a RecordBatch carries it. */
export function crc32c(buf: Buffer, start = 0, end = buf.length): number {
  let crc = -1;
  for (let i = start; i < end; i++)
    crc = (CRC_TABLE[(crc ^ (buf[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Zigzag varint of a small signed int (record fields here are all 32-bit). */
function writeVarint(buf: Buffer, at: number, value: number): number {
  let v = (value << 1) ^ (value >> 31);
  while ((v & ~0x7f) !== 0) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

// RecordBatch v2 header: baseOffset 8, batchLength 4, leaderEpoch 4, magic 1, crc 4,
// attributes 2, lastOffsetDelta 4, firstTimestamp 8, maxTimestamp 8, producerId 8,
// producerEpoch 2, baseSequence 4, records count 4.
const BATCH_HEADER = 61;
const CRC_FROM = 21;

/** Writes one RecordBatch (magic 2, no compression) of `values` at `at`; returns its end. */
export function writeRecordBatch(buf: Buffer, at: number, values: Buffer[], now: number): number {
  const start = at;
  buf.writeBigInt64BE(0n, at); // baseOffset
  buf.writeInt32BE(-1, at + 12); // partitionLeaderEpoch
  buf.writeInt8(2, at + 16); // magic
  buf.writeInt16BE(0, at + 21); // attributes
  buf.writeInt32BE(values.length - 1, at + 23); // lastOffsetDelta
  buf.writeBigInt64BE(BigInt(now), at + 27); // firstTimestamp
  buf.writeBigInt64BE(BigInt(now), at + 35); // maxTimestamp
  buf.writeBigInt64BE(-1n, at + 43); // producerId
  buf.writeInt16BE(-1, at + 51); // producerEpoch
  buf.writeInt32BE(-1, at + 53); // baseSequence
  buf.writeInt32BE(values.length, at + 57);
  at += BATCH_HEADER;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as Buffer;
    // attributes 1, timestampDelta 1 (0), offsetDelta, key -1 (1), value length, value, 0 headers
    const body = 3 + varintSize(i) + varintSize(value.length) + value.length + 1;
    at = writeVarint(buf, at, body);
    buf[at++] = 0;
    buf[at++] = 0;
    at = writeVarint(buf, at, i);
    buf[at++] = 1; // zigzag(-1): null key
    at = writeVarint(buf, at, value.length);
    at += value.copy(buf, at);
    buf[at++] = 0;
  }
  buf.writeInt32BE(at - start - 12, start + 8); // batchLength: from leaderEpoch on
  buf.writeUInt32BE(crc32c(buf, start + CRC_FROM, at), start + 17);
  return at;
}

function varintSize(value: number): number {
  let v = (value << 1) ^ (value >> 31);
  let n = 1;
  while ((v & ~0x7f) !== 0) {
    v >>>= 7;
    n++;
  }
  return n;
}

const PRODUCE = 0;
const CLIENT_ID = 'sluice-bench';

/** One broker connection: size-prefixed requests out, responses matched by correlation id. */
class BrokerLink {
  private readonly waiting = new Map<
    number,
    { resolve: (b: Buffer) => void; reject: (e: Error) => void }
  >();
  private pending: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private buf = Buffer.allocUnsafe(1 << 20);

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('broker connection closed')));
  }

  static open(host: string, port: number): Promise<BrokerLink> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host, port }, () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new BrokerLink(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Encodes one Produce v3 request for `byPartition` (partition -> values) and sends it. */
  produce(
    correlationId: number,
    topic: string,
    byPartition: Map<number, Buffer[]>,
  ): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    let need = 64 + topic.length;
    for (const values of byPartition.values()) {
      need += 8 + BATCH_HEADER;
      for (const v of values) need += v.length + 16;
    }
    if (this.buf.length < need) this.buf = Buffer.allocUnsafe(need * 2);
    const buf = this.buf;
    let at = 4;
    at = buf.writeInt16BE(PRODUCE, at);
    at = buf.writeInt16BE(3, at);
    at = buf.writeInt32BE(correlationId, at);
    at = buf.writeInt16BE(CLIENT_ID.length, at);
    at += buf.write(CLIENT_ID, at, 'latin1');
    at = buf.writeInt16BE(-1, at); // transactionalId: null
    at = buf.writeInt16BE(1, at); // acks
    at = buf.writeInt32BE(30_000, at); // timeout ms
    at = buf.writeInt32BE(1, at); // one topic
    at = buf.writeInt16BE(topic.length, at);
    at += buf.write(topic, at, 'latin1');
    at = buf.writeInt32BE(byPartition.size, at);
    const now = Date.now();
    for (const [partition, values] of byPartition) {
      at = buf.writeInt32BE(partition, at);
      const sizeAt = at;
      const end = writeRecordBatch(buf, at + 4, values, now);
      buf.writeInt32BE(end - sizeAt - 4, sizeAt);
      at = end;
    }
    buf.writeInt32BE(at - 4, 0);
    const reply = new Promise<Buffer>((resolve, reject) =>
      this.waiting.set(correlationId, { resolve, reject }),
    );
    // A copy: the socket may still hold the bytes when the next send reuses the buffer.
    this.socket.write(Buffer.from(buf.subarray(0, at)));
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const size = this.pending.readInt32BE(0);
      if (this.pending.length < 4 + size) return;
      const body = this.pending.subarray(4, 4 + size);
      this.pending = this.pending.subarray(4 + size);
      const id = body.readInt32BE(0);
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      waiter?.resolve(body);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }
}

/** Partition error codes of a Produce v3 response (correlation id already matched). */
export function produceErrors(body: Buffer): { partition: number; code: number }[] {
  let at = 4;
  const errors: { partition: number; code: number }[] = [];
  const topics = body.readInt32BE(at);
  at += 4;
  for (let t = 0; t < topics; t++) {
    at += 2 + body.readInt16BE(at);
    const parts = body.readInt32BE(at);
    at += 4;
    for (let p = 0; p < parts; p++) {
      const partition = body.readInt32BE(at);
      const code = body.readInt16BE(at + 4);
      if (code !== 0) errors.push({ partition, code });
      at += 4 + 2 + 8 + 8;
    }
  }
  return errors;
}

/** A producer for one topic: partition leaders from kafkajs's metadata, then raw sockets. */
export class WireProducer {
  private correlation = 1;

  private constructor(
    private readonly topic: string,
    private readonly leaderOf: Map<number, BrokerLink>,
    private readonly links: BrokerLink[],
  ) {}

  static async connect(brokers: string[], topic: string): Promise<WireProducer> {
    const kafka = new Kafka({ clientId: CLIENT_ID, brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const links = new Map<number, BrokerLink>();
      for (const b of cluster.brokers) links.set(b.nodeId, await BrokerLink.open(b.host, b.port));
      const leaderOf = new Map<number, BrokerLink>();
      for (const p of topics[0]?.partitions ?? []) {
        const link = links.get(p.leader);
        if (!link) throw new Error(`no broker ${p.leader} for ${topic}/${p.partitionId}`);
        leaderOf.set(p.partitionId, link);
      }
      if (leaderOf.size === 0) throw new Error(`topic ${topic} has no partitions`);
      return new WireProducer(topic, leaderOf, [...links.values()]);
    } finally {
      await admin.disconnect();
    }
  }

  /** Sends every message (its partition given) and waits for every leader's acks. */
  async send(messages: { value: Buffer; partition: number }[]): Promise<void> {
    const perLink = new Map<BrokerLink, Map<number, Buffer[]>>();
    for (const { value, partition } of messages) {
      const link = this.leaderOf.get(partition);
      if (!link) throw new Error(`no leader for partition ${partition}`);
      let parts = perLink.get(link);
      if (!parts) perLink.set(link, (parts = new Map<number, Buffer[]>()));
      let values = parts.get(partition);
      if (!values) parts.set(partition, (values = []));
      values.push(value);
    }
    const replies = [...perLink].map(([link, parts]) =>
      link.produce(this.correlation++, this.topic, parts),
    );
    for (const body of await Promise.all(replies)) {
      const errors = produceErrors(body);
      if (errors.length > 0) throw new Error(`produce failed: ${JSON.stringify(errors)}`);
    }
  }

  close(): void {
    for (const link of this.links) link.close();
  }
}
