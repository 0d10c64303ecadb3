import { Kafka, logLevel, type Producer } from 'kafkajs';

export interface SampleEvent {
  event_id: string;
  ts: string;
  user_id: number;
  project: string;
  action: string;
  amount: number;
}

export interface GeneratedStream {
  /** Kafka message values in production order. */
  messages: string[];
  /** event_ids that must end up in the table exactly once. */
  uniqueIds: Set<string>;
  duplicates: number;
  malformed: number;
  /** The malformed message texts (each unique). */
  malformedMessages: string[];
}

/**
 * A deterministic stream of sample events: `duplicateRatio` of the messages repeat an earlier
 * event_id (same content, as a producer retry would), `malformedRatio` are broken JSON.
 */
export function generateEvents(
  count: number,
  options: {
    duplicateRatio: number;
    malformedRatio: number;
    seed?: number;
    startMs?: number;
    /** Prefix of event_ids and malformed markers, so two streams never share an id. */
    idPrefix?: string;
  },
): GeneratedStream {
  let state = options.seed ?? 42;
  const random = () => {
    // mulberry32: a tiny seeded PRNG, so a failing run can be reproduced
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const start = options.startMs ?? Date.UTC(2026, 0, 1);
  const produced: string[] = [];
  const messages: string[] = [];
  const uniqueIds = new Set<string>();
  const malformedMessages: string[] = [];
  const prefix = options.idPrefix ?? 'e';
  let duplicates = 0;
  for (let i = 0; i < count; i += 1) {
    const roll = random();
    if (roll < options.malformedRatio) {
      const broken = `{"event_id": "${prefix}-bad-${i}", "ts": `;
      messages.push(broken);
      malformedMessages.push(broken);
      continue;
    }
    if (roll < options.malformedRatio + options.duplicateRatio && produced.length > 0) {
      messages.push(produced[Math.floor(random() * produced.length)]!);
      duplicates += 1;
      continue;
    }
    const event: SampleEvent = {
      event_id: `${prefix}-${i}`,
      ts: new Date(start + i * 10).toISOString(),
      user_id: Math.floor(random() * 1000),
      project: `p${Math.floor(random() * 20)}`,
      action: random() < 0.5 ? 'click' : 'view',
      amount: Math.round(random() * 10_000) / 100,
    };
    const text = JSON.stringify(event);
    produced.push(text);
    messages.push(text);
    uniqueIds.add(event.event_id);
  }
  return {
    messages,
    uniqueIds,
    duplicates,
    malformed: malformedMessages.length,
    malformedMessages,
  };
}

/**
 * `later` produced after `earlier`, plus `repeats` exact copies of earlier well-formed messages
 * (producer retries across the two parts: duplicates the dedup state must still know).
 */
export function followUp(earlier: GeneratedStream, later: GeneratedStream, repeats: number) {
  const malformed = new Set(earlier.malformedMessages);
  const wellFormed = earlier.messages.filter((m) => !malformed.has(m));
  const copies = Array.from(
    { length: repeats },
    (_, i) => wellFormed[(i * 7919) % wellFormed.length]!,
  );
  const messages = [...later.messages, ...copies];
  const all = concatStreams([earlier, { ...later, messages }]);
  all.duplicates += repeats;
  return { messages, all };
}

/** Streams produced one after the other, with distinct ids (see `idPrefix`). */
export function concatStreams(streams: readonly GeneratedStream[]): GeneratedStream {
  return {
    messages: streams.flatMap((s) => s.messages),
    uniqueIds: new Set(streams.flatMap((s) => [...s.uniqueIds])),
    duplicates: streams.reduce((sum, s) => sum + s.duplicates, 0),
    malformed: streams.reduce((sum, s) => sum + s.malformed, 0),
    malformedMessages: streams.flatMap((s) => s.malformedMessages),
  };
}

export async function connectProducer(
  brokers: string,
): Promise<{ producer: Producer; close: () => Promise<void> }> {
  const kafka = new Kafka({
    clientId: 'sluice-test-producer',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return { producer, close: () => producer.disconnect() };
}

/** Sends messages round-robin over the topic's partitions in chunks (one request per chunk). */
export async function produceAll(
  producer: Producer,
  topic: string,
  partitions: number,
  messages: readonly string[],
  chunk = 2_000,
): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    const slice = messages.slice(i, i + chunk);
    await producer.send({
      topic,
      messages: slice.map((value, j) => ({ value, partition: (i + j) % partitions })),
    });
  }
}
