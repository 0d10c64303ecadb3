/**
 * The bench's workload: JSON events shaped like the demo's (event_id, ts, user_id, project,
 * action, amount) padded to the wanted size, a share of them exact re-sends of a recent event
 * (a producer retry), produced through kafkajs with large batches spread over every partition.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';

const PROJECTS = ['apollo', 'borealis', 'cassini', 'dawn', 'europa', 'fermi', 'galileo', 'hubble'];
const ACTIONS = ['view', 'view', 'view', 'click', 'click', 'purchase', 'refund'];
// Duplicates repeat one of this many latest events, so a duplicate's event time stays recent.
const RECENT = 1_000;
const IN_FLIGHT = 2;

export class EventSource {
  private seq = 0;
  private random: () => number;
  private readonly recent: string[] = [];
  /** Produced index of each `recent` event. */
  private readonly recentAt: number[] = [];
  private padding = '';
  produced = 0;
  unique = 0;
  /** Produced index of the event the last next() repeated; -1 when it was a new event. */
  lastDupOf = -1;

  constructor(
    private readonly prefix: string,
    private readonly dupShare: number,
    eventSize: number,
    seed = 7,
  ) {
    let state = seed;
    this.random = () => {
      // mulberry32: deterministic, so two runs produce the same stream
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const base = this.fresh(Date.now()).length;
    this.seq = 0;
    this.padding = 'x'.repeat(Math.max(0, eventSize - base));
  }

  /** The next message value; `now` becomes the event time of a new event. */
  next(now: number): string {
    const index = this.produced;
    this.produced += 1;
    if (this.recent.length > 0 && this.random() < this.dupShare) {
      const pick = Math.floor(this.random() * this.recent.length);
      this.lastDupOf = this.recentAt[pick] as number;
      return this.recent[pick] as string;
    }
    this.lastDupOf = -1;
    const value = this.fresh(now);
    const slot = this.seq % RECENT;
    this.unique += 1;
    if (this.recent.length < RECENT) {
      this.recent.push(value);
      this.recentAt.push(index);
    } else {
      this.recent[slot] = value;
      this.recentAt[slot] = index;
    }
    return value;
  }

  private fresh(now: number): string {
    const id = this.seq++;
    const action = ACTIONS[id % ACTIONS.length] as string;
    return JSON.stringify({
      event_id: `${this.prefix}${id.toString().padStart(9, '0')}`,
      ts: new Date(now).toISOString(),
      user_id: 1 + ((id * 7919) % 5000),
      project: PROJECTS[(id * 31) % PROJECTS.length],
      action,
      amount: action === 'purchase' ? Math.round((id % 997) * 137) / 100 : 0,
      session: this.padding,
    });
  }
}

export async function connectProducer(brokers: string[]): Promise<Producer> {
  const kafka = new Kafka({ clientId: 'sluice-bench', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

let roundRobin = 0;

async function sendChunk(
  producer: Producer,
  topic: string,
  partitions: number,
  values: string[],
): Promise<void> {
  const messages = values.map((value) => ({ value, partition: roundRobin++ % partitions }));
  await producer.send({ topic, acks: 1, messages });
}

/**
 * Produces `count` events as fast as the mock takes them; `onProgress` gets the running total.
 * One send carries `recordBatch` events per partition, which kafkajs writes as one record batch
 * per partition. That size matters: the mock answers a fetch with one record batch, where a real
 * broker returns up to max.partition.fetch.bytes (1 MB, ~6.5k of these events) per partition.
 */
export async function produceAll(
  producer: Producer,
  topic: string,
  partitions: number,
  source: EventSource,
  count: number,
  recordBatch: number,
  onProgress: (n: number) => void,
): Promise<void> {
  const chunk = partitions * recordBatch;
  const inFlight = new Set<Promise<void>>();
  for (let sent = 0; sent < count;) {
    const size = Math.min(chunk, count - sent);
    const now = Date.now();
    const values = Array.from({ length: size }, () => source.next(now));
    sent += size;
    const done = sent;
    const send = sendChunk(producer, topic, partitions, values).then(() => onProgress(done));
    inFlight.add(send);
    void send.finally(() => inFlight.delete(send)).catch(() => undefined);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
