import {
  JoinWatermark,
  marksHeartbeatMs,
  type SourceMark,
  type WatermarkSnapshot,
} from './watermark';

/**
 * A model of the join watermark's sources, checked over random interleavings: source partitions
 * whose whole history is in Kafka before the pipeline starts, consumers that fetch them in any
 * order, linger, pause, die and are rebalanced, marks heartbeats stamped from Kafka's log end
 * offsets as the consumer role stamps them (see PartitionSession.logEnd), an actor that applies
 * its mailbox late, restarts from a snapshot and ticks with processing time. Properties:
 * - no event already in the log at the start is late (per-partition disorder within lateness);
 * - once every partition is read to its end, the watermark reaches any event time within the
 *   release bound of the README (idle timeout + lateness + how far the time is past the lowest
 *   mark).
 * Deterministic (seeded): a failure names its seed, `MODEL_SEED=<n>` replays it alone.
 */

const LATENESS = 2_000;
const IDLE = 3_000;
const HEARTBEAT = marksHeartbeatMs(IDLE);
const TOPICS = ['L', 'R'] as const;
/** The model's clock step while waiting for the watermark. */
const TICK = 500;

type Rng = () => number;
function mulberry32(seed: number): Rng {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (rng: Rng, n: number) => Math.floor(rng() * n);

interface LogEvent {
  offset: number;
  time: number;
  history: boolean;
}

interface Partition {
  topic: string;
  index: number;
  log: LogEvent[];
  committed: number;
  /** The consumer whose session reads it; undefined while unassigned (rebalance, dead member). */
  owner: number | undefined;
  session: Session | undefined;
  paused: boolean;
}

/** One consumer session of one partition (PartitionSession in the consumer role). */
interface Session {
  from: number;
  /** Next offset to fetch (read, buffered or appended). */
  read: number;
  /** Last offset appended to the mailbox. */
  appended: number;
  maxTime: number | undefined;
  caughtUp: boolean | undefined;
  /** Read but not appended yet (lingering): [to, maxTime, caughtUp of the batch]. */
  buffered: { events: LogEvent[]; to: number; caughtUp: boolean } | undefined;
}

interface Entry {
  tp: string;
  topic: string;
  partition: number;
  from: number;
  to: number;
  events: LogEvent[];
  marks: SourceMark;
}

class Model {
  readonly parts: Partition[] = [];
  readonly queue: Entry[] = [];
  readonly consumers: boolean[];
  now = 1_000_000;
  wm = new JoinWatermark([...TOPICS], LATENESS, IDLE);
  readonly next = new Map<string, number>();
  violations: string[] = [];
  lastBeat = Number.NEGATIVE_INFINITY;

  constructor(private readonly rng: Rng) {
    const counts = { L: 1 + int(rng, 6), R: 1 + int(rng, 3) };
    for (const topic of TOPICS) {
      // One topic may be far ahead of the other in event time (a replay of two histories).
      const base = int(rng, 4) * 200_000;
      for (let index = 0; index < counts[topic]; index++) {
        const log: LogEvent[] = [];
        const size = int(rng, 4) === 0 ? 0 : int(rng, 40);
        let time = base + int(rng, 60_000);
        for (let offset = 0; offset < size; offset++) {
          time += int(rng, 6_000);
          // Disorder within a partition stays within the lateness (Flink's rule covers more).
          log.push({ offset, time: time - int(rng, LATENESS + 1), history: true });
        }
        this.parts.push({
          topic,
          index,
          log,
          committed: 0,
          owner: undefined,
          session: undefined,
          paused: false,
        });
      }
    }
    this.consumers = Array.from({ length: 1 + int(rng, 3) }, () => true);
    // Members join one by one: some partitions start unassigned.
    for (const p of this.parts) if (rng() < 0.6) this.assign(p, int(rng, this.consumers.length));
  }

  assign(p: Partition, consumer: number | undefined): void {
    p.owner = consumer;
    p.session =
      consumer === undefined
        ? undefined
        : {
            from: p.committed,
            read: p.committed,
            appended: p.committed - 1,
            maxTime: undefined,
            caughtUp: undefined,
            buffered: undefined,
          };
  }

  live(p: Partition): boolean {
    return p.owner !== undefined && this.consumers[p.owner] === true;
  }

  fetch(p: Partition): void {
    const s = p.session;
    if (!s || !this.live(p) || p.paused || s.read >= p.log.length) return;
    const events = p.log.slice(s.read, s.read + 1 + int(this.rng, 8));
    const to = events[events.length - 1]!.offset;
    s.read = to + 1;
    const caughtUp = p.log.length <= to + 1; // the fetch's high watermark
    const buffered = s.buffered;
    s.buffered = {
      events: [...(buffered?.events ?? []), ...events],
      to,
      caughtUp,
    };
  }

  flush(p: Partition): void {
    const s = p.session;
    if (!s?.buffered || !this.live(p)) return;
    const { events, to, caughtUp } = s.buffered;
    s.buffered = undefined;
    for (const e of events) if (s.maxTime === undefined || e.time > s.maxTime) s.maxTime = e.time;
    s.caughtUp = caughtUp;
    s.appended = to;
    this.push(p, s, events);
    if (this.rng() < 0.5) p.committed = to + 1;
  }

  /** The marks heartbeat of a consumer: every assigned partition, with Kafka's log end. */
  heartbeat(consumer: number): void {
    for (const p of this.parts) {
      const s = p.session;
      if (p.owner !== consumer || !s || !this.live(p)) continue;
      s.caughtUp = s.appended + 1 >= p.log.length;
      this.push(p, s, []);
    }
  }

  push(p: Partition, s: Session, events: LogEvent[]): void {
    const marks: SourceMark = {
      caughtUp: s.caughtUp,
      partitions: this.parts.filter((q) => q.topic === p.topic).length,
    };
    if (s.maxTime !== undefined) marks.maxTime = s.maxTime;
    const tp = `${p.topic}/${p.index}`;
    this.queue.push({
      tp,
      topic: p.topic,
      partition: p.index,
      from: s.from,
      to: s.appended,
      events,
      marks,
    });
  }

  /** EntryProcessor.apply + JoinStage.endEntry, for one actor that gets every event. */
  apply(entry: Entry): void {
    const known = this.next.get(entry.tp);
    if (known !== undefined && entry.from > known) return; // a gap: dropped
    let own: number | undefined;
    for (const e of entry.events) {
      if (known !== undefined && e.offset < known) continue;
      if (this.wm.isLate(e.time)) {
        if (e.history) {
          this.violations.push(
            `${entry.tp}@${e.offset} time ${e.time} late under watermark ${this.wm.value}`,
          );
        }
        continue;
      }
      if (own === undefined || e.time > own) own = e.time;
    }
    if (known === undefined || entry.to + 1 >= known) {
      const stamped = entry.marks.maxTime;
      const maxTime = own === undefined ? stamped : Math.max(own, stamped ?? own);
      this.wm.observe(entry.topic, entry.partition, { ...entry.marks, maxTime }, this.now);
      this.wm.advance(this.now);
    }
    this.next.set(entry.tp, Math.max(known ?? 0, entry.to + 1));
  }

  tick(ms: number): void {
    this.now += ms;
    if (this.now - this.lastBeat >= HEARTBEAT) {
      this.lastBeat = this.now;
      this.consumers.forEach((alive, c) => alive && this.heartbeat(c));
    }
    this.wm.advance(this.now);
  }

  step(): void {
    const rng = this.rng;
    const p = this.parts[int(rng, this.parts.length)]!;
    const roll = rng();
    if (roll < 0.3) this.fetch(p);
    else if (roll < 0.45) this.flush(p);
    else if (roll < 0.6) {
      for (let n = int(rng, 6); n > 0 && this.queue.length > 0; n--)
        this.apply(this.queue.shift()!);
    } else if (roll < 0.75) this.tick(int(rng, 2_500));
    else if (roll < 0.8) p.paused = !p.paused;
    else if (roll < 0.85) {
      // Rebalance: the partition moves (or waits unassigned); what was buffered is read again.
      this.assign(p, rng() < 0.3 ? undefined : int(rng, this.consumers.length));
    } else if (roll < 0.88) {
      const c = int(rng, this.consumers.length);
      this.consumers[c] = !this.consumers[c];
    } else if (roll < 0.9) {
      // The actor restarts from its last checkpoint (marks kept, caught-up words not).
      const copy = new JoinWatermark([...TOPICS], LATENESS, IDLE);
      copy.restore(JSON.parse(JSON.stringify(this.wm.snapshot())) as WatermarkSnapshot, this.now);
      this.wm = copy;
    } else if (roll < 0.93) {
      // Live: a new event at the processing time's pace (not checked: the live rule is another).
      const last = p.log[p.log.length - 1];
      p.log.push({ offset: p.log.length, time: (last?.time ?? 0) + 1_000, history: false });
    } else this.tick(int(rng, 300));
  }

  /** Every member back, every partition assigned and read to its end, every entry applied. */
  drain(): void {
    this.consumers.fill(true);
    for (const p of this.parts) {
      p.paused = false;
      if (p.owner === undefined) this.assign(p, 0);
    }
    for (let guard = 0; guard < 10_000; guard++) {
      let busy = false;
      for (const p of this.parts) {
        const s = p.session!;
        if (s.read < p.log.length || s.buffered) busy = true;
        this.fetch(p);
        this.flush(p);
      }
      while (this.queue.length > 0) this.apply(this.queue.shift()!);
      this.tick(50);
      if (!busy) return;
    }
  }
}

const SEEDS = process.env.MODEL_SEED ? [Number(process.env.MODEL_SEED)] : range(1, 200);
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('join watermark model: history read in any order', () => {
  it('no event already in the log at the start is late, in any interleaving', () => {
    const failures: string[] = [];
    for (const seed of SEEDS) {
      const model = new Model(mulberry32(seed));
      for (let i = 0; i < 400; i++) model.step();
      model.drain();
      if (model.violations.length > 0) failures.push(`seed ${seed}: ${model.violations[0]}`);
    }
    expect(failures).toEqual([]);
  });

  it('once every partition is read and quiet, the watermark passes any time within the bound', () => {
    const failures: string[] = [];
    for (const seed of SEEDS) {
      const rng = mulberry32(seed);
      const model = new Model(rng);
      for (let i = 0; i < 200; i++) model.step();
      model.drain();
      const times = model.parts.flatMap((p) => p.log.map((e) => e.time));
      if (times.length === 0) continue;
      // Each partition's mark: its highest event time (an empty one: the lowest minus IDLE).
      const marks = model.parts
        .filter((p) => p.log.length > 0)
        .map((p) => Math.max(...p.log.map((e) => e.time)));
      const lowest = Math.min(...marks);
      const target = Math.max(...times) + int(rng, 60_000);
      // README: idleTimeout + lateness + (target - lowest mark), plus one heartbeat for the
      // caught-up word, one tick of the model's clock and one idleTimeout for empty partitions.
      const empty = model.parts.some((p) => p.log.length === 0) ? IDLE : 0;
      const bound = IDLE + LATENESS + (target - lowest) + HEARTBEAT + TICK + empty;
      const start = model.now;
      while (model.wm.value < target && model.now - start <= bound) {
        model.tick(TICK);
        while (model.queue.length > 0) model.apply(model.queue.shift()!);
      }
      if (model.wm.value < target) {
        failures.push(`seed ${seed}: watermark ${model.wm.value} < ${target} after ${bound} ms`);
      }
    }
    expect(failures).toEqual([]);
  });
});
