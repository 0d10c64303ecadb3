/**
 * Message bodies for the fixed-rate phases, built before the clock starts so that the bench's
 * producer spends its share of the 2 shared cores on sending, not on JSON.stringify: at 52k/s the
 * producer that built each body at send time reached only 71-82% of the asked events while Sluice
 * ran. Each fresh body keeps a fixed-width ISO timestamp slot that is patched in place just before
 * its send, so the event time is still the produce time. A duplicate is the very bytes of its
 * original (a producer retry), sent after it, so it carries the original's stamp.
 */
import type { EventSource } from './bench-data';

/** A placeholder event time; its ISO text is 24 bytes like every stamp up to year 9999. */
const SENTINEL_MS = Date.UTC(2000, 0, 1);
const SENTINEL = new Date(SENTINEL_MS).toISOString();
const STAMP_BYTES = SENTINEL.length;
const MIN_BLOCK = 20_000;

interface Block {
  /** Produced index of the block's first event. */
  base: number;
  slab: Buffer;
  starts: Int32Array;
  ends: Int32Array;
  /** Byte offset of the event's timestamp slot; -1 for a duplicate (its bytes are final). */
  stampAt: Int32Array;
  count: number;
}

/** The 24-byte ISO text of `ms`, for patching into a slot. */
export function stampBytes(ms: number): Buffer {
  const stamp = Buffer.from(new Date(ms).toISOString(), 'latin1');
  if (stamp.length !== STAMP_BYTES) throw new Error(`timestamp ${stamp.toString()} is not 24 B`);
  return stamp;
}

export class EventFeed {
  /** Events handed out by take() (what was sent, not what was built). */
  produced = 0;
  unique = 0;
  private block: Block | undefined;
  private previous: Block | undefined;
  private cursor = 0;
  private built = 0;

  private readonly blockEvents: number;

  /**
   * `blockEvents` bodies are built at a time: the whole timed phase for a latency run (prepare()
   * before the clock starts), some seconds of it for a long sustained run (memory). At least
   * MIN_BLOCK, so a duplicate's original (one of the last 1,000 new events) is in this block or
   * the previous one.
   */
  constructor(
    private readonly source: EventSource,
    blockEvents: number,
  ) {
    this.blockEvents = Math.max(MIN_BLOCK, Math.ceil(blockEvents));
  }

  /** Builds the next block if the current one is used up. */
  prepare(): void {
    if (this.block && this.cursor < this.block.count) return;
    this.previous = this.block;
    this.block = this.build(this.blockEvents);
    this.cursor = 0;
  }

  /** The next `n` message values, fresh ones stamped with `now`. */
  take(n: number, now: number, into: Buffer[] = []): Buffer[] {
    into.length = 0;
    const stamp = stampBytes(now);
    while (into.length < n) {
      this.prepare();
      const block = this.block as Block;
      const end = Math.min(block.count, this.cursor + (n - into.length));
      for (let i = this.cursor; i < end; i++) {
        const at = block.stampAt[i] as number;
        if (at >= 0) {
          stamp.copy(block.slab, at);
          this.unique += 1;
        }
        into.push(block.slab.subarray(block.starts[i], block.ends[i]));
      }
      this.produced += end - this.cursor;
      this.cursor = end;
    }
    return into;
  }

  private build(count: number): Block {
    const texts: string[] = [];
    const origin = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const text = this.source.next(SENTINEL_MS);
      origin[i] = this.source.lastDupOf;
      texts.push(origin[i] === -1 ? text : '');
    }
    const base = this.built;
    this.built += count;
    // A duplicate of an event in this block points at its original's bytes; one of the
    // previous block (already sent, so stamped) is copied in.
    const size = texts.reduce((sum, t, i) => {
      const o = origin[i] as number;
      return sum + (o === -1 ? t.length : o < base ? this.bytesOf(o).length : 0);
    }, 0);
    const block: Block = {
      base,
      slab: Buffer.allocUnsafe(size),
      starts: new Int32Array(count),
      ends: new Int32Array(count),
      stampAt: new Int32Array(count),
      count,
    };
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const o = origin[i] as number;
      block.stampAt[i] = -1;
      if (o >= base) {
        block.starts[i] = block.starts[o - base] as number;
        block.ends[i] = block.ends[o - base] as number;
        continue;
      }
      block.starts[i] = offset;
      if (o === -1) {
        const text = texts[i] as string;
        block.stampAt[i] = offset + text.indexOf(SENTINEL);
        offset += block.slab.write(text, offset, 'latin1');
      } else {
        offset += this.bytesOf(o).copy(block.slab, offset);
      }
      block.ends[i] = offset;
    }
    return block;
  }

  private bytesOf(index: number): Buffer {
    const block = this.previous;
    if (!block || index < block.base || index >= block.base + block.count)
      throw new Error(`duplicate of event ${index}, not in the last two blocks`);
    const i = index - block.base;
    return block.slab.subarray(block.starts[i], block.ends[i]);
  }
}

/** Most events per send of a fixed-rate run (one send's events share one timestamp). */
const SEND_CHUNK = 5_000;
const TICK_MS = 50;

export interface RateMessage {
  value: Buffer;
  partition: number;
}

/** Where a fixed-rate phase sends (one topic): the wire producer, or kafkajs for comparison. */
export interface RateSender {
  send(messages: RateMessage[]): Promise<void>;
  close(): void;
}

export interface RateStats {
  /** Events sent, and those the rate asked for over the run. */
  sent: number;
  asked: number;
  /** Wall seconds of the timed loop, and this process's CPU seconds over it (the producer). */
  seconds: number;
  cpuSeconds: number;
}

/**
 * Produces at `rate` events/s until `stop()` says so (or `durationMs` passes), in 50 ms ticks.
 * Catches up after a slow send, never bursts more than one second of backlog. A tick's events go
 * out in sends of at most SEND_CHUNK, each stamped just before its own send: stamping a whole
 * second of backlog at once counted the producer's own lag as every system's latency. The message
 * objects and value arrays are reused from send to send (each send is awaited before the next).
 */
export async function produceAtRate(
  sender: RateSender,
  partitions: number,
  feed: EventFeed,
  rate: number,
  durationMs: number,
  stop: () => boolean = () => false,
): Promise<RateStats> {
  feed.prepare();
  const pool: RateMessage[] = [];
  const values: Buffer[] = [];
  let partition = 0;
  const cpu = process.cpuUsage();
  const started = Date.now();
  let sent = 0;
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= durationMs || stop()) break;
    const due = Math.min(Math.floor((rate * elapsed) / 1000) - sent, rate);
    for (let left = due; left > 0;) {
      const size = Math.min(left, SEND_CHUNK);
      feed.take(size, Date.now(), values);
      for (let i = 0; i < size; i++) {
        const value = values[i] as Buffer;
        const message = pool[i];
        if (message) {
          message.value = value;
          message.partition = partition;
        } else pool.push({ value, partition });
        partition = partition + 1 === partitions ? 0 : partition + 1;
      }
      sent += size;
      left -= size;
      const messages = size === pool.length ? pool : pool.slice(0, size);
      await sender.send(messages);
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  const used = process.cpuUsage(cpu);
  const seconds = (Date.now() - started) / 1000;
  return {
    sent,
    asked: Math.round((rate * Math.min(durationMs, seconds * 1000)) / 1000),
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}
