import {
  type CompiledPipeline,
  type CompiledSource,
  type Hasher,
  JsonLines,
  type KeyHash,
  type MailboxEntry,
  type MailboxEvent,
  type Row,
  type RowMaker,
} from '@sluice/pipeline';
import {
  DEDUP_RECORD_BYTES,
  type DedupKeyHash,
  dedupKeyHasher,
  DedupState,
} from '@sluice/pipeline/dedup';
import { BATCH_FLUSH_BYTES } from '@sluice/pipeline/mailbox/input-rules';
import {
  type DeadLetter,
  decodeForgets,
  type ReplayLetter,
  rowKeyHash,
  RowSourceWriter,
  type SourceRange,
} from '@sluice/redis';
import { sourceEventTime } from '@sluice/pipeline/join';
import type { EventObserver } from '@sluice/telemetry';
import { type DeadAt, errorText, safeJson, transformValues } from './entry-helpers';
import { type Replay, replayOf } from './replay-letters';
import { JoinStage, type JoinSink } from './join-stage';

/** Counters an actor owns (`written` belongs to the writer). */
export interface ActorCounters {
  consumed: number;
  filtered: number;
  duplicates: number;
  deadLettered: number;
  outOfOrderDropped: number;
  /** Events of applied entries skipped as already applied (re-read after a rebalance or crash). */
  staleSkipped: number;
}

export function zeroCounters(): ActorCounters {
  return {
    consumed: 0,
    filtered: 0,
    duplicates: 0,
    deadLettered: 0,
    outOfOrderDropped: 0,
    staleSkipped: 0,
  };
}

/** An entry `apply` stopped at: it continues from beyond `next` (see docs/architecture.md). */
export interface MailboxGap {
  /** The entry's stream id: the actor reads it again once the gap is accepted. */
  streamId: string;
  /** The source offsets this actor never applied: `next`..`from - 1` of the entry. */
  range: SourceRange;
}

/** Where an entry ended up, for logs and tests. */
export type EntryOutcome = 'applied' | 'stale' | 'gap' | 'first';

/**
 * The pure part of an actor: applies mailbox entries in stream order to the open batch (rows,
 * dead letters, counters, watermarks, dedup adds). Everything it holds since the last `reset` is
 * pending; the actor writes it in one checkpoint and then calls `reset`. After a failed
 * checkpoint the actor throws the processor away and restores a new one from Redis.
 */
export class EntryProcessor {
  /** The open batch's rows, already JSONEachRow text: no row object outlives its event. */
  readonly lines = new JsonLines();
  /** Each row's source position and dedup key, in row order (the outbox carries them). */
  private readonly sources: RowSourceWriter;
  /** Bytes at the head of the dedup forget list applied since the last checkpoint. */
  forgetsApplied = 0;
  deadLetters: DeadLetter[] = [];
  /** Bytes of the dead letters' messages (they go into the same checkpoint as the rows). */
  private deadLetterBytes = 0;
  /** Replayed dead letters applied since the last checkpoint (not `consumed`, but events). */
  private replayed = 0;
  counters = zeroCounters();
  /** Stream id of the last entry applied (or skipped). */
  cursor: string;
  /** The entry `apply` stopped at with a gap; nothing is applied until `acceptGap`. */
  gap: MailboxGap | undefined;
  /** Wall-clock ms of the first change since the last checkpoint; undefined when none. */
  pendingSince: number | undefined;
  readonly dedup: DedupState | undefined;
  /** Set for join pipelines: per-source dedup runs before it, filter and transform after it. */
  readonly join: JoinStage | undefined;
  private readonly joinSink: JoinSink;
  /** Told every outcome (traces, find-my-event); telemetry owns it, the actor resets it. */
  observer: EventObserver | undefined;
  /** The dedup key hash, scoped as find-my-event expects it (libs/pipeline dedup-key.ts). */
  private readonly keyHash: DedupKeyHash;
  private readonly transformColumns: readonly string[];

  constructor(
    private readonly pipeline: CompiledPipeline,
    private readonly rowBuilder: RowMaker,
    hasher: Hasher,
    /** `topic/partition` -> first offset not yet applied. */
    readonly next: Map<string, number>,
    cursor: string,
  ) {
    this.cursor = cursor;
    this.join = pipeline.join ? new JoinStage(pipeline, rowBuilder) : undefined;
    this.joinSink = {
      row: (row, pair) => {
        this.lines.append(row);
        // A joined row is reported as its left event's outcome: its Kafka timestamp gives the
        // latency, its context the trace, its dedup key the find-my-event record and the key
        // forgotten if the row is dead-lettered at insert.
        const { left } = pair;
        const topic = pipeline.join?.left.topic ?? '';
        this.sources.add(
          topic,
          left.partition,
          left.offset,
          this.leftKey(topic, left.value),
          left.time,
        );
        this.observer?.outcome(
          topic,
          {
            offset: left.offset,
            timestamp: left.timestamp ?? left.time,
            traceparent: left.traceparent,
          },
          'written',
          this.observer.wantsKeys ? this.observedKey(topic, left.value) : undefined,
        );
      },
      filtered: () => (this.counters.filtered += 1),
      dead: (stage, error, message, at) => this.deadLetter(stage, error, message, at, Date.now()),
    };
    // One bucketed state per actor, sized by the widest window; each source checks its own window
    // (to within a bucket).
    let windowMs = 0;
    const dedupTopics: string[] = [];
    for (const source of pipeline.sources.values()) {
      if (!source.dedup) continue;
      windowMs = Math.max(windowMs, source.dedup.windowMs);
      dedupTopics.push(source.topic);
    }
    // Sources with unread data in Kafka hold expiry: in a join through the join watermark, else
    // through the marks the consumers stamp (caughtUp, partitions) for the dedup topics.
    const join = this.join;
    const floor = join && (() => join.state.watermark.value);
    this.dedup =
      windowMs > 0 ? new DedupState(windowMs, floor, join ? undefined : dedupTopics) : undefined;
    this.keyHash = dedupKeyHasher(pipeline, hasher);
    this.sources = new RowSourceWriter(this.dedup ? DEDUP_RECORD_BYTES : 0);
    this.transformColumns = pipeline.columns.map((c) => c.column);
  }

  get hasPending(): boolean {
    return this.pendingSince !== undefined;
  }

  get rowCount(): number {
    return this.lines.count;
  }

  /** The open batch's rows decoded again: tests and diagnostics only, the actor sends `lines`. */
  get rows(): Row[] {
    return this.lines.toRows();
  }

  /**
   * Time to flush: maxRows rows, or maxRows events of any outcome (replayed ones included), so a
   * filter that drops most events cannot let the open batch (dead letters, dedup adds, index
   * records, spans) grow without bound until maxDelay, nor one checkpoint grow past what Redis
   * and V8 take; or BATCH_FLUSH_BYTES of rows, dead-lettered messages and buffered join events.
   */
  isFull(maxRows: number): boolean {
    return (
      this.lines.count >= maxRows ||
      this.counters.consumed + this.replayed >= maxRows ||
      // Bytes too: a few large events must not make a checkpoint Redis refuses (input-rules.ts).
      this.lines.size + this.deadLetterBytes + (this.join?.state.pendingAppendBytes ?? 0) >=
        BATCH_FLUSH_BYTES
    );
  }

  /**
   * Applies one stream entry under the gap rule of docs/architecture.md. An entry that leaves a
   * gap is not applied, nor is the cursor moved past it: the actor holds there (`gap`).
   */
  apply(streamId: string, entry: MailboxEntry, now: number): EntryOutcome {
    const tp = `${entry.topic}/${entry.partition}`;
    const known = this.next.get(tp);
    if (known !== undefined && entry.from > known) {
      const range = {
        topic: entry.topic,
        partition: entry.partition,
        from: known,
        to: entry.from - 1,
      };
      this.gap = { streamId, range };
      return 'gap';
    }
    this.cursor = streamId;
    this.pendingSince ??= now;
    const next = known ?? Number.NEGATIVE_INFINITY;
    let applied = false;
    for (const event of entry.events) {
      if (event.offset < next) {
        this.counters.staleSkipped += 1;
        continue;
      }
      if (!applied) this.observer?.entry(entry.topic, entry.partition, event.offset, entry.to);
      applied = true;
      this.counters.consumed += 1;
      this.process(entry.topic, entry.partition, tp, event, now);
    }
    // An entry that reaches what is applied tells the join (or the dedup expiry) about its
    // source (consumers repeat their marks in empty entries up to what they have appended); one
    // behind it is stale.
    if (known === undefined || entry.to + 1 >= known) {
      if (this.join) this.join.endEntry(entry, now, this.joinSink);
      else this.dedup?.mark(entry.topic, entry.partition, entry.caughtUp, entry.partitions, now);
    }
    this.next.set(tp, Math.max(known ?? 0, entry.to + 1));
    if (known === undefined) return 'first';
    return applied ? 'applied' : 'stale';
  }

  /** An operator gave up the gap's range: `next` moves past it and the entry applies again. */
  acceptGap(range: SourceRange): void {
    this.next.set(`${range.topic}/${range.partition}`, range.to + 1);
    this.gap = undefined;
  }

  /**
   * A replay entry (libs/redis dlq-replay.ts): dead letters an operator sent back, each through
   * the current definition (replay-letters.ts). Not Kafka-sequenced, so neither the gap rule nor
   * `next` applies, and no source mark moves; not counted `consumed` again, each gets a new
   * outcome (written, filtered, duplicate or dead-lettered), so that `consumed + replayed` sums
   * the outcomes.
   */
  applyReplay(streamId: string, letters: readonly ReplayLetter[], now: number): void {
    this.cursor = streamId;
    this.pendingSince ??= now;
    // Not observed: a replayed event's stand-in timestamp (its dead-lettering time) would show
    // as end-to-end latency, and find-my-event logs consumed events.
    const observer = this.observer;
    this.observer = undefined;
    try {
      this.applyLetters(letters, now);
    } finally {
      this.observer = observer;
    }
  }

  private applyLetters(letters: readonly ReplayLetter[], now: number): void {
    for (const letter of letters) {
      this.replayed += 1;
      const replay = replayOf(letter);
      if (replay.kind === 'row') {
        this.replayRow(replay, now);
      } else if (replay.kind === 'event') {
        // No source partition: its time is not the source's progress (dedup expiry).
        const { topic, partition, event } = replay;
        this.process(topic, partition, undefined, event, now);
      } else {
        this.deadLetter(letter.stage, replay.error, replay.message, replay.at, now);
      }
    }
  }

  /**
   * Stage insert: the row as sent, to the table again as it is (replay-letters.ts). The writer
   * forgot its dedup key when it dead-lettered it; the key goes through dedup again like any
   * event's and is recorded with the row (in the checkpoint that writes it), so a copy of the
   * event re-sent after the replay is a duplicate, and the replay of a row whose event was re-sent
   * and written meanwhile is one. The actor has applied the forget list before (actor.ts), so
   * the row's own key is no longer seen. In a join pipeline one left event may have many rows
   * with its key: there the key is recorded, never checked. Refused again, the row takes its key
   * back to the forget list and to its new dead letter.
   */
  private replayRow(replay: Extract<Replay, { kind: 'row' }>, now: number): void {
    const { topic, partition, event, line, key } = replay;
    const dedup = this.dedup;
    const windowMs = this.pipeline.sources.get(topic)?.dedup?.windowMs;
    const hash = key && dedup && windowMs !== undefined ? rowKeyHash(key.hash) : undefined;
    if (key === undefined || dedup === undefined || hash === undefined) {
      // A dead letter without a key (written before it was kept), or a source without dedup.
      this.lines.appendLine(line);
      this.sources.add(topic, partition, event.offset);
      return;
    }
    if (!this.join && dedup.isDuplicate(hash, key.time, windowMs)) {
      this.counters.duplicates += 1;
      return;
    }
    this.lines.appendLine(line);
    this.sources.add(topic, partition, event.offset, hash, key.time);
    // No source: a replayed event's time is not its source's progress (dedup expiry).
    dedup.add(hash, key.time, undefined, now);
  }

  /** A stream entry that does not decode: counted and dead-lettered, so nothing is silent. */
  applyUnreadable(streamId: string, reason: string, now: number): void {
    this.cursor = streamId;
    this.pendingSince ??= now;
    this.counters.consumed += 1;
    this.counters.deadLettered += 1;
    this.deadLetters.push({
      stage: 'parse',
      error: reason,
      topic: '',
      partition: '',
      offset: '',
      message: '',
      at: now,
    });
  }

  /** Processing time passed without entries: a join's watermark may move on idle sources. */
  tick(now: number): void {
    if (!this.join) return;
    this.join.tick(now, this.joinSink);
    if (this.join.state.hasChanges || this.lines.count > 0) this.pendingSince ??= now;
  }

  /** Everything to add to the partition's counters hash in the next checkpoint. */
  allCounters(): Record<string, number> {
    return this.join ? { ...this.counters, ...this.join.state.counters } : { ...this.counters };
  }

  /** The open batch's per-row facts for the outbox entry; nothing when they do not line up. */
  rowSources(): { sourceTopics?: string[]; sources?: Buffer } {
    return this.sources.count === this.lines.count ? this.sources.encode() : {};
  }

  /**
   * Takes out of the dedup state the keys of rows dead-lettered at insert (`list`: the forget
   * list as Redis holds it); the next checkpoint zeroes them in Redis and consumes the list. Only
   * the list grows between checkpoints, so what was applied before is its head and is skipped:
   * a key forgotten and then seen again must not be forgotten twice.
   */
  applyForgets(list: Buffer, now: number): void {
    if (list.length <= this.forgetsApplied) return;
    for (const { hash, time } of decodeForgets(list.subarray(this.forgetsApplied))) {
      this.dedup?.forget(hash, time);
    }
    this.forgetsApplied = list.length;
    this.pendingSince ??= now;
  }

  /** After a successful checkpoint: the open batch starts empty. */
  reset(): void {
    this.lines.clear();
    this.sources.clear();
    this.forgetsApplied = 0;
    this.deadLetters = [];
    this.deadLetterBytes = 0;
    this.replayed = 0;
    this.counters = zeroCounters();
    this.pendingSince = undefined;
    this.dedup?.commit();
    this.join?.state.commit();
  }

  private deadLetter(
    stage: string,
    error: string,
    message: string | Buffer,
    at: { topic: string; partition: number | ''; offset: number | '' },
    now: number,
  ): void {
    this.counters.deadLettered += 1;
    this.deadLetterBytes += message.length;
    this.deadLetters.push({ stage, error, ...at, message, at: now });
  }

  /** `tp` is `topic/partition`, built once per entry: dedup expiry follows each source
   * (undefined for a replayed dead letter). */
  private process(
    topic: string,
    partition: number,
    tp: string | undefined,
    event: MailboxEvent,
    now: number,
  ): void {
    // Not counted consumed here: a replayed dead letter (applyReplay) was consumed once already.
    // No closure per event (it was one allocation per event): see `dead`.
    const { error, raw } = event;
    if (error !== undefined) {
      // Bytes that are not UTF-8 are dead-lettered as they are (rawBytes), never as text.
      const message = event.rawBytes === undefined ? (raw ?? '') : Buffer.from(event.rawBytes);
      return this.dead({ topic, partition, event, now }, 'parse', error, message);
    }
    const source = this.pipeline.sources.get(topic);
    if (source === undefined) {
      const reason = `topic ${topic} is not a source of this pipeline`;
      return this.dead({ topic, partition, event, now }, 'parse', reason);
    }
    const value = event.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const reason = 'the message is not a JSON object';
      return this.dead({ topic, partition, event, now }, 'parse', reason, raw ?? safeJson(value));
    }
    const input = value as Record<string, unknown>;
    if (this.join) return this.processJoined(source, partition, tp, event, input, now);

    if (this.pipeline.filter) {
      try {
        if (!this.pipeline.filter.test(input)) {
          this.counters.filtered += 1;
          this.observer?.outcome(topic, event, 'filtered', this.observedKey(topic, input));
          return;
        }
      } catch (err) {
        const key = this.observedKey(topic, input);
        return this.dead({ topic, partition, event, now, keyHash: key }, 'filter', errorText(err));
      }
    }

    let dedupHash: KeyHash | undefined;
    let dedupTime = 0;
    if (source.dedup && this.dedup) {
      try {
        const key = source.dedup.key.key(input);
        dedupHash = this.keyHash(topic, key);
        dedupTime = sourceEventTime(
          source.eventTime,
          input,
          event.timestamp,
          now,
          this.pipeline.maxFutureEventTimeMs,
        );
      } catch (err) {
        return this.dead(
          { topic, partition, event, now, keyHash: dedupHash?.low },
          'dedup',
          errorText(err),
        );
      }
      if (this.dedup.isDuplicate(dedupHash, dedupTime, source.dedup.windowMs)) {
        this.counters.duplicates += 1;
        this.observer?.outcome(topic, event, 'duplicate', dedupHash.low);
        return;
      }
    }

    try {
      const values = transformValues(this.pipeline, this.transformColumns, input);
      // Encoded now (append changes nothing when the row does not serialize): the event is
      // dead-lettered here instead of failing the whole batch at the flush.
      this.lines.appendLine(this.rowBuilder.jsonLine(input, values));
    } catch (err) {
      const at = { topic, partition, event, now, keyHash: dedupHash?.low };
      return this.dead(at, 'transform', errorText(err));
    }
    this.sources.add(topic, partition, event.offset, dedupHash, dedupTime);
    // Marked seen only once the row exists: a key in the dedup state always has a written row.
    if (dedupHash !== undefined) this.dedup?.add(dedupHash, dedupTime, tp, now);
    this.observer?.outcome(topic, event, 'written', dedupHash?.low);
  }

  /** Only a refused event builds its `at` object: the accepted path allocates nothing here. */
  private dead(at: DeadAt, stage: string, error: string, message?: string | Buffer): void {
    const { topic, partition, event, now } = at;
    this.counters.deadLettered += 1;
    this.observer?.outcome(topic, event, 'dead-lettered', at.keyHash, stage, error);
    const text = message ?? safeJson(event.value);
    this.deadLetterBytes += text.length;
    this.deadLetters.push({
      stage,
      error,
      topic,
      partition,
      offset: event.offset,
      message: text,
      at: now,
    });
  }

  /**
   * The dedup key hash of an event the pipeline stops before dedup, for find-my-event only (which
   * keeps the low 64 bits).
   */
  private observedKey(topic: string, input: Readonly<Record<string, unknown>>): bigint | undefined {
    const spec = this.pipeline.sources.get(topic)?.dedup;
    if (!this.observer?.wantsKeys || spec === undefined) return undefined;
    try {
      const key = spec.key.key(input);
      return this.keyHash(topic, key).low;
    } catch {
      return undefined;
    }
  }

  /** The left event's dedup key hash, for its joined rows; undefined without a left dedup. */
  private leftKey(topic: string, value: Readonly<Record<string, unknown>>): KeyHash | undefined {
    const spec = this.pipeline.sources.get(topic)?.dedup;
    if (spec === undefined || this.dedup === undefined) return undefined;
    try {
      return this.keyHash(topic, spec.key.key(value));
    } catch {
      return undefined;
    }
  }

  /** Join pipelines: per-source dedup, then the join; the join stage writes the pairs' rows. */
  private processJoined(
    source: CompiledSource,
    partition: number,
    tp: string | undefined,
    event: MailboxEvent,
    input: Record<string, unknown>,
    now: number,
  ): void {
    const join = this.join as JoinStage;
    const topic = source.topic;
    // Like process(): only a refused event builds its `at` object (no closure per event).
    let prepared;
    try {
      prepared = join.prepare(source, input, event.timestamp, now);
    } catch (err) {
      return this.dead({ topic, partition, event, now }, 'join', errorText(err));
    }
    let dedupHash: KeyHash | undefined;
    if (source.dedup && this.dedup) {
      try {
        const key = source.dedup.key.key(input);
        dedupHash = this.keyHash(topic, key);
      } catch (err) {
        return this.dead({ topic, partition, event, now }, 'dedup', errorText(err));
      }
      if (this.dedup.isDuplicate(dedupHash, prepared.time, source.dedup.windowMs)) {
        this.counters.duplicates += 1;
        this.observer?.outcome(topic, event, 'duplicate', dedupHash.low);
        return;
      }
    }
    const position = {
      topic,
      partition,
      offset: event.offset,
      timestamp: event.timestamp,
      traceparent: event.traceparent,
    };
    if (!join.offer(prepared, position, input, this.joinSink)) {
      return this.dead({ topic, partition, event, now }, 'join', join.lateReason(prepared.time));
    }
    // Seen only once the event is join state, checkpointed with it.
    if (dedupHash !== undefined) this.dedup?.add(dedupHash, prepared.time, tp, now);
  }
}
