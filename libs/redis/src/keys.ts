/**
 * Every Redis key Sluice uses, in one place. Keys of one pipeline partition (actor) share the
 * hash tag `{sl:<pipeline>:<partition>}` so the actor's atomic checkpoint (a Lua script over
 * several keys) also works on Redis Cluster, where a script may only touch one hash slot.
 * Pipeline-wide keys carry `{sl:<pipeline>}`; cluster-wide keys `{sl}`.
 */
export const keys = {
  /** Hash: pipeline id -> stored definition (JSON). */
  pipelines: () => '{sl}:pipelines',
  /** Hash: pipeline id -> 'running' | 'stopped'. */
  pipelineStatus: () => '{sl}:pipeline-status',
  /** Hash: pipeline id -> JSON record of its rewind not finished yet (libs/redis rewinds.ts);
   * beside the statuses, so ending a rewind and resuming is one MULTI on one slot. */
  rewinds: () => '{sl}:rewinds',
  /** Hash: pipeline id -> JSON record of its reset not finished yet (libs/redis resets.ts);
   * beside the definitions, so storing the new one and ending the reset is one script. */
  resets: () => '{sl}:resets',
  /** Hash: pipeline id -> definition version (1 at creation, +1 per edit; absent = 1): the ETag
   * of GET /pipelines/:id and the `definition_version` of what it writes. */
  pipelineVersions: () => '{sl}:pipeline-versions',
  /** Counter bumped on every definition/status change; processes poll it to reload cheaply. */
  pipelinesVersion: () => '{sl}:pipelines-version',

  /** Hash: instance id -> member record (JSON: host, pid, roles, version, started, port, actors). */
  members: () => '{sl}:members',
  /** Sorted set: instance id scored by its last heartbeat (Redis server time, ms). */
  heartbeats: () => '{sl}:heartbeats',
  /** String with TTL: `<instanceId>:<epoch>` of the placement coordinator. */
  coordinator: () => '{sl}:coordinator',
  /** Counter that only grows: the coordinator's fencing epoch. */
  coordinatorEpoch: () => '{sl}:coordinator-epoch',
  /** String: the published actor assignment (JSON), written only by the current coordinator. */
  assignment: () => '{sl}:assignment',
  /** Pub/sub channel: `joined:<id>`, `left:<id>`, `assignment:<version>`; polling stays the fallback. */
  clusterEvents: () => '{sl}:cluster-events',
  /** Counter bumped with every published assignment; owners poll it. */
  assignmentVersion: () => '{sl}:assignment-version',

  /** Stream: source offset resets of the pipeline's consumers, one entry per skipped range
   * (topic, partition, expected, resumedAt, skipped, resets, at); capped, newest kept. */
  sourceGaps: (pipeline: string) => `{sl:${pipeline}}:source-gaps`,
  /** Hash: `<reason>:<partition|*>` -> JSON Hold: why the pipeline or a partition is held
   * (libs/redis holds.ts). */
  holds: (pipeline: string) => `{sl:${pipeline}}:holds`,
  /** String: epoch ms when a writer last found the pipeline's sink table changed (a column
   * dropped under rows in flight); owners describe the table again when it moves. */
  schemaChanged: (pipeline: string) => `{sl:${pipeline}}:schema-changed`,
  /** Hash: totals over every source gap ever recorded: `resets`, `skippedOffsets`. */
  sourceGapTotals: (pipeline: string) => `{sl:${pipeline}}:source-gap-totals`,

  /** Stream: the mailbox of one actor; entries are msgpack MailboxEntry under field `e`. */
  mailbox: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:mailbox`,
  /** Hash: the actor's checkpoint (cursor, per-source-partition watermarks, counters). */
  checkpoint: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:checkpoint`,
  /** String with TTL: `<ownerId>:<epoch>` of the process holding the actor. */
  lease: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:lease`,
  /** Counter that only grows: the fencing epoch of the actor. */
  epoch: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:epoch`,
  /**
   * String: packed 12-byte (96-bit, little-endian) key hashes first seen in one dedup time
   * bucket (libs/pipeline HashSet96); expires with it. The key name marks the record size.
   */
  dedupBucket: (pipeline: string, partition: number, bucketStartMs: number) =>
    `${tag(pipeline, partition)}:dedup96:${bucketStartMs}`,
  /**
   * String: packed 8-byte (64-bit) key hashes of one dedup time bucket, as versions before 96-bit
   * hashes wrote it. Still read, zeroed by forgets and deleted at expiry; never appended to.
   */
  dedupBucket64: (pipeline: string, partition: number, bucketStartMs: number) =>
    `${tag(pipeline, partition)}:dedup:${bucketStartMs}`,
  /** String: dedup keys to forget (rows dead-lettered at insert), appended by the writer and
   * consumed by the actor's checkpoint (dedup-forgets.ts). */
  dedupForgets: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:dedup-forget`,
  /** Sorted set: dedup bucket start times held for this actor (score = start ms), one member
   * for both record formats of a bucket. */
  dedupIndex: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:dedup-index`,
  /** String: msgpack records of one join side's events buffered in one event-time bucket,
   * appended by checkpoints; deleted when the watermark has passed the bucket. */
  joinBucket: (
    pipeline: string,
    partition: number,
    side: 'left' | 'right',
    bucketStartMs: number,
  ) => `${tag(pipeline, partition)}:join:${side === 'left' ? 'L' : 'R'}:${bucketStartMs}`,
  /** String: uint32 LE indexes of the bucket's records matched after they were buffered. */
  joinMatched: (
    pipeline: string,
    partition: number,
    side: 'left' | 'right',
    bucketStartMs: number,
  ) => `${tag(pipeline, partition)}:join:${side === 'left' ? 'L' : 'R'}:${bucketStartMs}:m`,
  /** Sorted set: live join buckets of this actor, members `L:<start>` / `R:<start>`. */
  joinIndex: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:join-index`,
  /** String: one flushed batch's rows waiting for the writer (deleted once inserted). */
  outboxBatch: (pipeline: string, partition: number, batchId: string) =>
    `${tag(pipeline, partition)}:outbox:${batchId}`,
  /** Set: ids of batches in the outbox, re-announced when the actor starts. */
  outboxIndex: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:outbox-index`,
  /** Hash: counters of this partition (consumed, filtered, duplicates, written, deadLettered). */
  counters: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:counters`,
  /** String: JSON source range of the mailbox gap an operator accepted (libs/redis gap-accept.ts). */
  gapAccepted: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:gap-accepted`,
  /** Hash: `<removed partition>/<dead-letter id>` and `<removed partition>/counters` moved into
   * this partition by a reset to fewer partitions (reset-fold.ts); dropped with the reset. */
  resetFold: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:reset-fold`,
  /** Stream: dead-letter entries of this partition; never trimmed (see the dlq-full hold). */
  deadLetters: (pipeline: string, partition: number) => `${tag(pipeline, partition)}:dlq`,
  /** String: find-my-event log of one time bucket, one segment appended per checkpoint
   * (libs/telemetry event-index.ts). The first index's hashes were `:events:<bucket>`. */
  eventIndex: (pipeline: string, partition: number, bucketStartMs: number) =>
    `${tag(pipeline, partition)}:evlog:${bucketStartMs}`,
} as const;

function tag(pipeline: string, partition: number): string {
  return `{sl:${pipeline}:${partition}}`;
}
