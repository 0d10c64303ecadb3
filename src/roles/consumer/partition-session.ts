export interface BatchProgress {
  maxTime: number | undefined;
  caughtUp: boolean;
}

/** The optional MailboxEntry fields of join pipelines (maxTime, caughtUp, partitions) and of
 * dedup pipelines (caughtUp, partitions). */
export interface JoinMarks {
  maxTime?: number;
  caughtUp?: boolean;
  partitions?: number;
}

export function joinMarks(progress: BatchProgress, partitions: number): JoinMarks {
  const marks: JoinMarks = { caughtUp: progress.caughtUp };
  if (progress.maxTime !== undefined) marks.maxTime = progress.maxTime;
  if (partitions > 0) marks.partitions = partitions;
  return marks;
}

/** Partitions of `topic` among `topic/partition` keys (the group's offsets list them all). */
export function partitionsOf(offsets: ReadonlyMap<string, number>, topic: string): number {
  let count = 0;
  for (const key of offsets.keys()) if (key.startsWith(`${topic}/`)) count += 1;
  return count;
}

/**
 * What one consumer session (one group generation) has done for one source topic-partition:
 * the offset it started from, how far each mailbox has been told about, and the offset waiting
 * to be committed.
 *
 * The actors apply an entry only when its `from` is not beyond their `next` for the source
 * partition. A batch's events go only to the mailboxes they route to, so before an offset is
 * committed every other mailbox gets an empty entry reaching up to it (`coverageFor`): a later
 * session starts at that committed offset, and every mailbox must already be there.
 */
export class PartitionSession {
  /** Per mailbox, the last offset it has an entry for in this session; -1 for none. */
  private readonly coveredTo: number[];
  /** The offset to commit next (last appended + 1); undefined when nothing is waiting. */
  private pendingOffset: number | undefined;
  /** Join pipelines: highest event time read in this session; join and dedup pipelines: whether
   * what this session appended reaches Kafka's log end offset (as of the last batch's fetch or
   * the last look at the log end, whichever came later); stamped on every entry, coverage entries
   * included. */
  maxTime: number | undefined;
  caughtUp: boolean | undefined;
  /** The last offset appended in this session (`from - 1` before the first batch). */
  private last: number;
  /** The last offset resolved to kafkajs (it fetches on from there): appended, buffered or in an
   * append still awaited. Where reading would go on had it not been reset (SourceGapMonitor). */
  readTo = -1;
  /** Where kafkajs started reading a partition with nothing committed and `startFrom: latest`:
   * the log end offset at the session's first look, before anything was appended. */
  private startedAtEnd: number | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly from: number,
    mailboxes: number,
    /** How many partitions the topic has (0: unknown), stamped on join pipelines' entries. */
    public topicPartitions = 0,
  ) {
    this.coveredTo = new Array<number>(mailboxes).fill(-1);
    this.last = from - 1;
  }

  get lastTo(): number {
    return this.last;
  }

  /** The offset after everything this session read (appended, buffered or being appended). */
  get nextToRead(): number {
    return Math.max(this.last, this.readTo) + 1;
  }

  get pending(): number | undefined {
    return this.pendingOffset;
  }

  /** Entries up to `to` are in the given mailboxes (XADD succeeded). */
  covered(mailboxes: Iterable<number>, to: number): void {
    for (const mailbox of mailboxes) {
      if ((this.coveredTo[mailbox] ?? -1) < to) this.coveredTo[mailbox] = to;
    }
  }

  /** A batch ending at `to` is in every mailbox it routes to; commit up to it next. */
  appended(mailboxes: Iterable<number>, to: number, progress?: BatchProgress): void {
    this.covered(mailboxes, to);
    this.pendingOffset = to + 1;
    if (to > this.last) this.last = to;
    if (progress) {
      this.maxTime = progress.maxTime;
      this.caughtUp = progress.caughtUp;
    }
  }

  /** Marks for an empty coverage entry: the progress of the last batch appended. */
  coverageMarks(): JoinMarks {
    if (this.caughtUp === undefined) return {};
    return joinMarks({ maxTime: this.maxTime, caughtUp: this.caughtUp }, this.topicPartitions);
  }

  /**
   * Join pipelines: Kafka's offsets of the partition (`start` the log start, `end` the log end)
   * and its topic's partition count, as just fetched. Caught up means everything from `start` to
   * `end` is appended (in the mailboxes), never "not fetched yet", whatever the reason (not
   * fetched, paused, slow). `startsAtEnd`: nothing is committed and the source starts from the
   * latest offset, so kafkajs reads from the log end it found at the start (taken here as the
   * first end seen before anything was appended).
   */
  logEnd(start: number, end: number, partitions: number, startsAtEnd = false): void {
    if (startsAtEnd && this.last < this.from) this.startedAtEnd ??= end;
    const position = Math.max(this.last + 1, start, this.startedAtEnd ?? 0);
    this.caughtUp = position >= end;
    if (partitions > 0) this.topicPartitions = partitions;
  }

  /** What a batch ending after everything appended so far would be stamped with. */
  progressWith(batchMax: number | undefined, caughtUp: boolean): BatchProgress {
    const maxTime =
      batchMax === undefined || (this.maxTime !== undefined && this.maxTime >= batchMax)
        ? this.maxTime
        : batchMax;
    return { maxTime, caughtUp };
  }

  /** Mailboxes that need an empty entry up to `pending - 1` before `pending` can be committed. */
  coverageFor(pending: number): number[] {
    const lagging: number[] = [];
    this.coveredTo.forEach((to, mailbox) => {
      if (to < pending - 1) lagging.push(mailbox);
    });
    return lagging;
  }

  /** `offset` was committed; a batch appended meanwhile keeps its own pending offset. */
  committed(offset: number): void {
    if (this.pendingOffset === offset) this.pendingOffset = undefined;
  }
}
