import type { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  batchDeadline,
  type CompiledPipeline,
  decodeMailboxEntry,
  type Hasher,
  MAILBOX_FIELD,
  MAILBOX_PARTS_FIELD,
  type RowMaker,
} from '@sluice/pipeline';
import {
  BATCH_JOB_NAME,
  type BatchJob,
  batchId,
  batchJobOptions,
  encodeOutboxBatch,
  keys,
  isReplayEntry,
  newRunId,
  readReplayEntry,
  type ReplayLetter,
  type ReplicaSync,
} from '@sluice/redis';
import {
  FencedError,
  leaseValue,
  readCheckpoint,
  readDedupBuckets,
  readJoinBuckets,
  releaseLease,
  renewLease,
  writeCheckpoint,
} from '@sluice/redis/scripts';
import { ActorTelemetry, type Telemetry } from '@sluice/telemetry';
import { ActorHolds } from './actor-holds';
import { ActorBounds, type ActorLimits, NO_LIMITS, type StateSize } from './actor-bounds';
import { actorReplicaSync } from './actor-sync';
import { EntryProcessor } from './entry-processor';

export type ActorState = 'Restoring' | 'Active' | 'Revoking' | 'Closed';

export interface ActorDeps {
  /** Shared connection: lease renewal runs beside the actor's blocking reads. */
  readonly redis: Redis;
  readonly queue: Queue<BatchJob>;
  readonly hasher: Hasher;
  readonly ownerId: string;
  readonly leaseTtlMs: number;
  readonly logger: Logger;
  readonly telemetry?: Telemetry;
  /** REDIS_MIN_REPLICAS: a checkpoint is announced once that many replicas have it. */
  readonly sync?: { replicas: number; timeoutMs: number };
  /** Where the actor stops taking entries (see ActorBounds); none when absent. */
  readonly limits?: ActorLimits;
  /** The definition version of `pipeline` (PipelineStore), recorded with every checkpoint and
   * batch; absent in tests that run a bare definition. */
  readonly definitionVersion?: number;
}

/**
 * The checkpoint was written by a newer definition version than this actor runs: this process
 * has not loaded the edit yet. The actor waits (it applies nothing) until its placement replaces
 * it with one of the new version, so a partition never goes back to an older definition.
 */
class NewerDefinitionError extends Error {
  override readonly name = 'NewerDefinitionError';
}

/** Entries per XREAD; one entry is one Kafka batch's events for this partition. */
const READ_COUNT = 100;
/** Longest XREAD block: bounds how late a stop or a due flush is noticed. */
const MAX_BLOCK_MS = 100;
const RETRY_MS = 1_000;
/**
 * How often an actor with dedup reads its forget list between checkpoints (keys of rows the
 * writer dead-lettered at insert): bounds how long after a dead letter a re-sent copy of the
 * event may still be taken for a duplicate. Checkpoint replies carry the list too.
 */
const FORGETS_POLL_MS = 1_000;
/** While held: how often a stop, an accepted gap or a DLQ below its bound is noticed. */
const HOLD_POLL_MS = 200;
/** How often a paused actor (outbox or state at its bound) looks again. */
const PAUSED_POLL_MS = 500;

/**
 * The actor of one (pipeline, partition): restores from its checkpoint, then reads its mailbox in
 * order, one thread, and commits each batch with its checkpoint in one fenced Lua step. Redis
 * failing mid-way sends it back to Restoring (its in-memory state is thrown away, since a lost
 * reply leaves it unknown whether the step ran); a lost lease or a fenced checkpoint closes it
 * for good, without another write.
 */
export class PartitionActor {
  private currentState: ActorState = 'Restoring';
  private conn: Redis | undefined;
  private sync: ReplicaSync | undefined;
  private readonly bounds: ActorBounds;
  private processor: EntryProcessor | undefined;
  private seq = 0;
  /** Drawn anew at every restore: part of every batch id of this run (see batchId). */
  private runId = 0;
  /** Generation of the last checkpoint written or restored (see the checkpoint script). */
  private gen = 0;
  private stopping = false;
  private revokedReason: string | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private lastRenewed = 0;
  private running: Promise<void> | undefined;
  private readonly lease: string;
  private readonly mailbox: string;
  private forgetsPolledAt = 0;
  private telemetry: ActorTelemetry | undefined;
  private readonly holds: ActorHolds;
  /** The last checkpoint wrote dead letters: check the DLQ bound before the next entry. */
  private deadLettersWritten = false;
  /** Batch id -> when this actor committed it, for sluice_outbox_oldest_age_seconds (the
   * scrape gauge prunes inserted batches and fills in those of earlier owners). */
  readonly outboxTimes = new Map<string, number>();
  /** What holds the actor now, for logging the transitions only. */
  private heldFor: string | undefined;
  /** The restored checkpoint was made by another definition version: checkpoint at once, so the
   * partition shows the version it runs (GET /pipelines/:id) before any input arrives. */
  private recordVersion = false;

  constructor(
    readonly pipeline: CompiledPipeline,
    readonly partition: number,
    readonly epoch: number,
    private readonly rowBuilder: RowMaker,
    private readonly deps: ActorDeps,
  ) {
    this.lease = leaseValue(deps.ownerId, epoch);
    this.mailbox = keys.mailbox(pipeline.id, partition);
    this.holds = new ActorHolds(pipeline.id, partition, pipeline.dlq);
    this.bounds = new ActorBounds(pipeline.id, partition, deps.limits ?? NO_LIMITS, deps.logger);
  }

  get definitionVersion(): number | undefined {
    return this.deps.definitionVersion;
  }

  /** The bound this actor is paused at, if any (scrape gauge). */
  get pausedReason(): string | undefined {
    return this.bounds.reason;
  }

  /** For the scrape gauges: buffered join records (undefined without a join). */
  get joinRecords(): number | undefined {
    return this.processor?.join?.state.size.records;
  }

  get state(): ActorState {
    return this.currentState;
  }

  /** For the scrape gauges: the in-memory dedup state (undefined without dedup or state). */
  get dedupMemory(): { keys: number; bytes: number } | undefined {
    const dedup = this.processor?.dedup;
    return dedup && { keys: dedup.size, bytes: dedup.memoryBytes };
  }

  get closed(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  start(): void {
    if (this.running) return;
    this.lastRenewed = Date.now();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, this.deps.leaseTtlMs / 3));
    this.running = this.run().finally(() => this.cleanup());
    this.log('started');
  }

  /** Graceful: flush what is open, checkpoint it, release the lease. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    await this.cleanup();
  }

  private async run(): Promise<void> {
    let waitLogged = false;
    while (!this.stopping && this.revokedReason === undefined) {
      try {
        this.transition('Restoring');
        await this.restore();
        if (this.revokedReason !== undefined) break;
        this.transition('Active');
        await this.loop();
        if (this.revokedReason === undefined) {
          this.transition('Revoking', 'stopping');
          await this.flush();
          // Its next owner looks again at start; a stopped pipeline is not held.
          await this.bounds.release(await this.connection());
          await releaseLease(this.deps.redis, this.pipeline.id, this.partition, this.lease);
        }
        break;
      } catch (err) {
        if (err instanceof FencedError) {
          this.revokedReason = `fenced: ${err.message}`;
          break;
        }
        if (err instanceof NewerDefinitionError) {
          if (!waitLogged) this.log(err.message);
          waitLogged = true;
          this.processor = undefined;
          await sleep(RETRY_MS);
          // Replaced by the actor of the newer version: nothing was applied, hand the lease on.
          if (this.stopping) {
            await releaseLease(this.deps.redis, this.pipeline.id, this.partition, this.lease);
          }
          continue;
        }
        this.deps.logger.warn(
          { ...this.ids(), err: String(err) },
          `actor ${this.name}: redis step failed, restoring from the checkpoint: ${String(err)}`,
        );
        this.processor = undefined;
        await sleep(RETRY_MS);
      }
    }
    if (this.revokedReason !== undefined) this.transition('Revoking', this.revokedReason);
    this.processor = undefined;
    this.transition('Closed');
  }

  private async restore(): Promise<void> {
    const conn = await this.connection();
    const { id } = this.pipeline;
    const checkpoint = await readCheckpoint(conn, id, this.partition);
    const version = this.deps.definitionVersion;
    const stored = checkpoint?.definitionVersion;
    if (version !== undefined && stored !== undefined && stored > version) {
      throw new NewerDefinitionError(
        `waiting: the checkpoint was made by definition version ${stored}, this process runs ${version}`,
      );
    }
    this.recordVersion = version !== undefined && stored !== version;
    const processor = new EntryProcessor(
      this.pipeline,
      this.rowBuilder,
      this.deps.hasher,
      checkpoint?.next ?? new Map<string, number>(),
      checkpoint?.cursor ?? '0-0',
    );
    if (processor.dedup) {
      const buckets = await readDedupBuckets(conn, id, this.partition);
      for (const [start, { records, legacy }] of buckets) {
        if (records) processor.dedup.load(start, records);
        // 64-bit hashes an earlier version wrote: matched on the low 64 bits until they expire.
        if (legacy) processor.dedup.load(start, legacy, 8);
      }
    }
    // Dedup keys of rows dead-lettered at insert that no checkpoint consumed yet.
    processor.applyForgets(
      (await conn.getBuffer(keys.dedupForgets(id, this.partition))) ?? Buffer.alloc(0),
      Date.now(),
    );
    const join = processor.join?.state;
    if (join) {
      join.restoreMeta(checkpoint?.join, Date.now());
      for (const b of await readJoinBuckets(conn, id, this.partition)) {
        join.load(b.side, b.start, b.data, b.matched);
      }
    }
    this.seq = checkpoint?.seq ?? 0;
    this.gen = checkpoint?.gen ?? 0;
    // Before anything can be flushed: the seq restored here may have been issued before (a
    // pipeline deleted and recreated, Redis back in time), the run never was.
    this.runId = newRunId();
    if (this.deps.telemetry) {
      this.telemetry ??= new ActorTelemetry(this.deps.telemetry, id, this.partition);
      this.telemetry.log.reset();
      processor.observer = this.telemetry.log;
    }
    // A batch committed before a crash may never have been announced; BullMQ ignores known ids.
    const outbox = await conn.smembers(keys.outboxIndex(id, this.partition));
    if (outbox.length > 0 && !(await this.syncRestored(conn))) return;
    if (outbox.length > 0) {
      await this.deps.queue.addBulk(
        outbox.map((batch) => ({
          name: BATCH_JOB_NAME,
          data: { pipeline: id, partition: this.partition, batchId: batch },
          opts: batchJobOptions(batch),
        })),
      );
    }
    this.processor = processor;
    await this.bounds.check(conn, this.stateSize());
    this.log('restored', {
      cursor: processor.cursor,
      seq: this.seq,
      run: this.runId.toString(16).padStart(8, '0'),
      reannounced: outbox.length,
      dedupKeys: processor.dedup?.size ?? 0,
      definitionVersion: version,
      ...(join && { joinRecords: join.size.records, joinWatermark: join.watermark.value }),
    });
  }

  private async loop(): Promise<void> {
    const conn = await this.connection();
    const { maxRows, maxDelayMs } = this.pipeline.batch;
    if (this.recordVersion) await this.flush();
    while (!this.stopping && this.revokedReason === undefined) {
      const p = this.processor as EntryProcessor;
      if (await this.held(p, conn)) continue;
      const now = Date.now();
      p.tick(now);
      if (p.dedup && now - this.forgetsPolledAt >= FORGETS_POLL_MS) await this.pollForgets(p, conn);
      if (p.isFull(maxRows)) {
        await this.flush();
        continue;
      }
      // At most maxDelay after the batch opened, on this partition's phase (see batchDeadline).
      const due =
        p.pendingSince === undefined
          ? undefined
          : batchDeadline(p.pendingSince, maxDelayMs, this.partition, this.pipeline.partitions);
      if (due !== undefined && now >= due) {
        await this.flush();
        continue;
      }
      if (this.bounds.reason !== undefined) {
        // Held at a bound: the open batch still flushes on time, nothing more is read.
        await sleep(Math.min(PAUSED_POLL_MS, due === undefined ? PAUSED_POLL_MS : due - now));
        await this.bounds.check(conn, this.stateSize());
        continue;
      }
      const block =
        due === undefined ? MAX_BLOCK_MS : Math.max(1, Math.min(MAX_BLOCK_MS, due - now));
      const reply = await conn.xreadBuffer(
        'COUNT',
        READ_COUNT,
        'BLOCK',
        block,
        'STREAMS',
        this.mailbox,
        p.cursor,
      );
      for (const [idBuf, fields] of reply?.[0]?.[1] ?? []) {
        if (this.revokedReason !== undefined) return;
        // A replayed row dead-lettered at insert goes through dedup with its key: the writer's
        // forget of that key (written with the dead letter, so before the replay) must be applied
        // first, or the row would be taken for a duplicate of itself.
        if (p.dedup && isReplayEntry(fields)) await this.pollForgets(p, conn);
        this.applyRaw(p, idBuf.toString(), fields);
        if (p.gap) break;
        if (p.isFull(maxRows)) await this.flush();
        if (this.bounds.stateFull(this.stateSize())) {
          // At most one entry over the bound; the rest of the reply is read again after it.
          await this.bounds.check(conn, this.stateSize());
          break;
        }
      }
    }
  }

  /** Applies the dedup forget list as it is now (keys of rows the writer dead-lettered). */
  private async pollForgets(p: EntryProcessor, conn: Redis): Promise<void> {
    const now = Date.now();
    this.forgetsPolledAt = now;
    const list = await conn.getBuffer(keys.dedupForgets(this.pipeline.id, this.partition));
    if (list !== null) p.applyForgets(list, now);
  }

  /**
   * True while a hold stops input (see ActorHolds): what was applied before it is checkpointed,
   * then the actor waits a poll interval without reading its mailbox. A gap is given up only
   * when an operator accepted exactly that range; the entry is then read again and applied.
   */
  private async held(p: EntryProcessor, conn: Redis): Promise<boolean> {
    const force = this.deadLettersWritten;
    this.deadLettersWritten = false;
    const reasons: string[] = [];
    if (await this.holds.dlqFull(conn, Date.now(), force)) reasons.push('dlq-full');
    const gap = p.gap;
    if (gap && (await this.holds.gapAccepted(conn, gap))) {
      this.log('gap accepted by an operator, going on', { ...gap.range, streamId: gap.streamId });
      p.acceptGap(gap.range);
    } else if (gap) reasons.push('gap');
    const reason = reasons.length > 0 ? reasons.join(', ') : undefined;
    if (reason !== this.heldFor) {
      if (reason)
        this.deps.logger.warn({ ...this.ids(), reason }, `actor ${this.name}: held (${reason})`);
      else this.log('hold cleared, taking input again');
      this.heldFor = reason;
    }
    if (!reason) return false;
    await this.flush();
    if (p.gap) await this.holds.holdGap(conn, p.gap);
    await sleep(HOLD_POLL_MS);
    return true;
  }

  /**
   * Applies the entries of one stream entry in field order: one MAILBOX_FIELD, or several
   * MAILBOX_PARTS_FIELD (a linger flush of several source partitions). An entry that stops at a
   * gap leaves the cursor before the stream entry, so that it is read again whole once the gap
   * is accepted; the entries before it are then skipped as applied (their sources' `next`).
   */
  private applyRaw(p: EntryProcessor, id: string, fields: Buffer[]): void {
    // Dead letters an operator replays (libs/redis dlq-replay.ts).
    let replay: ReplayLetter[] | undefined;
    try {
      replay = readReplayEntry(fields);
    } catch (err) {
      return p.applyUnreadable(id, `unreadable replay entry ${id}: ${String(err)}`, Date.now());
    }
    if (replay !== undefined) return p.applyReplay(id, replay, Date.now());
    const before = p.cursor;
    let found = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]?.toString();
      if (name !== MAILBOX_FIELD && name !== MAILBOX_PARTS_FIELD) continue;
      found = true;
      const data = fields[i + 1] as Buffer;
      try {
        p.apply(id, decodeMailboxEntry(data), Date.now());
      } catch (err) {
        // Not an entry the consumer wrote: keep it visible instead of blocking the mailbox.
        p.applyUnreadable(id, `unreadable mailbox entry ${id}: ${String(err)}`, Date.now());
      }
      if (p.gap) {
        p.cursor = before;
        return;
      }
    }
    if (!found) {
      const reason = `no field '${MAILBOX_FIELD}' or '${MAILBOX_PARTS_FIELD}'`;
      p.applyUnreadable(id, `unreadable mailbox entry ${id}: Error: ${reason}`, Date.now());
    }
  }

  /** The atomic step, then the announcement. No-op when nothing changed since the last one. */
  private async flush(): Promise<void> {
    const p = this.processor;
    if (p === undefined || (p.pendingSince === undefined && !this.recordVersion)) return;
    const { id, sink } = this.pipeline;
    const rows = p.rowCount;
    const seq = rows > 0 ? this.seq + 1 : this.seq;
    const position = { epoch: this.epoch, run: this.runId, seq };
    const batch = rows > 0 ? batchId(id, this.partition, position) : undefined;
    const dedup = p.dedup;
    const changes = dedup?.changes();
    const started = Date.now();
    const info = { batchId: batch, rows, deadLetters: p.deadLetters };
    const tel = this.telemetry?.beginFlush(info);
    const payload =
      batch === undefined
        ? undefined
        : encodeOutboxBatch({
            pipeline: id,
            partition: this.partition,
            batchId: batch,
            database: sink.database,
            table: sink.table,
            // Packed (copied) here, so the processor may reuse its buffer after the reset.
            body: p.lines.bytes(),
            count: rows,
            createdAt: started,
            definitionVersion: this.deps.definitionVersion,
            ...tel?.payloadExtras(),
            ...p.rowSources(),
          });
    tel?.checkpointStarted();
    const conn = await this.connection();
    const since = this.sync?.session ?? 0;
    const { outcome, forgets } = await writeCheckpoint(conn, {
      pipeline: id,
      partition: this.partition,
      leaseValue: this.lease,
      batch: batch === undefined || payload === undefined ? undefined : { id: batch, payload },
      cursor: p.cursor,
      next: p.next,
      seq,
      gen: this.gen + 1,
      forgetsConsumed: p.forgetsApplied,
      counters: p.allCounters(),
      deadLetters: p.deadLetters,
      definitionVersion: this.deps.definitionVersion,
      dedup: dedup &&
        changes && {
          appends: changes.appends,
          forgotten: changes.forgotten,
          forgottenLegacy: changes.forgottenLegacy,
          expired: changes.expired,
          // Redis keeps a bucket while the window covers it, and at least a window from now so a
          // replay of old event times still finds its state after a restart.
          expireAt: (start) => Math.max(dedup.expiresAt(start), started + dedup.windowMs),
        },
      join: p.join?.state.changes(),
      eventIndex: tel?.eventIndex(position, started),
    }).catch((err: unknown) => {
      tel?.fail(err);
      this.deps.telemetry?.metrics.checkpointFailures.inc({ pipeline: id });
      throw err;
    });
    // Already applied: this very step ran before and its reply was lost; the state is the same.
    if (outcome === 'already-applied') this.log('checkpoint step was already applied', { seq });
    this.seq = seq;
    this.gen += 1;
    this.recordVersion = false;
    if (p.deadLetters.length > 0) this.deadLettersWritten = true;
    if (batch !== undefined) this.outboxTimes.set(batch, started);
    tel?.committed(p.allCounters(), payload?.length ?? 0);
    p.reset();
    // Keys the writer asked to forget since the last step: out of the state now, out of Redis
    // (and off the list) in the next step.
    p.applyForgets(forgets, Date.now());
    if (batch !== undefined) {
      // Announced only once replicated: a batch inserted and then lost to a failover would leave
      // its rows in ClickHouse and the actor redoing them under the same batch id.
      await this.syncCheckpoint(since);
      this.bounds.wrote(batch, payload?.length ?? 0);
      if (this.bounds.outboxBounded) await this.bounds.check(conn, this.stateSize());
      await this.deps.queue.add(
        BATCH_JOB_NAME,
        { pipeline: id, partition: this.partition, batchId: batch },
        batchJobOptions(batch),
      );
      this.deps.logger.debug?.(
        { ...this.ids(), batchId: batch, rows, ms: Date.now() - started },
        `actor ${this.name}: batch ${batch} committed`,
      );
    }
  }

  private stateSize(): StateSize {
    const p = this.processor;
    return { dedupKeys: p?.dedup?.size ?? 0, joinRecords: p?.join?.state.size.records ?? 0 };
  }

  /** REDIS_MIN_REPLICAS: waits (retrying) until the replicas have the checkpoint. */
  private async syncCheckpoint(since: number): Promise<void> {
    await this.sync?.confirm(since, () => !this.stopping && this.revokedReason === undefined);
  }

  /**
   * Before re-announcing restored batches: they may have been written by an earlier connection
   * whose WAIT failed. WAIT only covers this connection's own writes, and the replication stream
   * is ordered, so a write here (renewing the lease) acknowledged by the replicas proves they
   * have everything read before it. False when the lease is no longer ours.
   */
  private async syncRestored(conn: Redis): Promise<boolean> {
    if (!this.sync?.enabled) return true;
    const since = this.sync.session;
    const { id } = this.pipeline;
    if (!(await renewLease(conn, id, this.partition, this.lease, this.deps.leaseTtlMs))) {
      this.revokedReason = 'lease lost: another owner holds it';
      return false;
    }
    await this.syncCheckpoint(since);
    return true;
  }

  private async renew(): Promise<void> {
    if (this.revokedReason !== undefined || this.currentState === 'Closed') return;
    try {
      const ours = await renewLease(
        this.deps.redis,
        this.pipeline.id,
        this.partition,
        this.lease,
        this.deps.leaseTtlMs,
      );
      if (ours) this.lastRenewed = Date.now();
      else {
        this.revokedReason = 'lease lost: another owner holds it';
        this.telemetry?.leaseRenewFailed('lost');
      }
    } catch (err) {
      this.telemetry?.leaseRenewFailed('error');
      this.deps.logger.warn(
        { ...this.ids() },
        `actor ${this.name}: lease renewal failed: ${String(err)}`,
      );
      // Past its TTL the lease may be someone else's; the checkpoint would be fenced anyway.
      if (Date.now() - this.lastRenewed > this.deps.leaseTtlMs) {
        this.revokedReason = 'lease expired: renewal failed for longer than its TTL';
      }
    }
  }

  private async connection(): Promise<Redis> {
    if (this.conn === undefined) {
      // Blocking reads need their own connection; the actor's other commands share it, in order.
      // A command whose reply a connection reset lost must fail, never be sent again behind the
      // actor's back: the actor then restores from the checkpoint (which tells whether it ran).
      this.conn = this.deps.redis.duplicate({
        connectionName: `sluice:${this.deps.ownerId}:actor:${this.name}`,
        autoResendUnfulfilledCommands: false,
        enableOfflineQueue: false,
      });
      this.conn.on('error', () => undefined);
      const { sync, logger, telemetry } = this.deps;
      const actor = { name: this.name, ids: this.ids() };
      this.sync = actorReplicaSync(this.conn, sync, actor, logger, telemetry);
    }
    if (this.conn.status === 'wait') await this.conn.connect();
    return this.conn;
  }

  private async cleanup(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) conn.disconnect(false);
    await Promise.resolve();
  }

  private transition(to: ActorState, reason?: string): void {
    const from = this.currentState;
    if (from === to) return;
    this.currentState = to;
    const message = `actor ${this.name} epoch ${this.epoch}: ${from} -> ${to}${reason ? ` (${reason})` : ''}`;
    if (to === 'Revoking' && reason?.startsWith('fenced')) {
      this.deps.logger.warn({ ...this.ids(), from, to, reason }, message);
    } else this.deps.logger.log({ ...this.ids(), from, to, reason }, message);
  }

  private log(what: string, extra: Record<string, unknown> = {}): void {
    this.deps.logger.log({ ...this.ids(), ...extra }, `actor ${this.name}: ${what}`);
  }

  private ids() {
    return { pipeline: this.pipeline.id, partition: this.partition, epoch: this.epoch };
  }

  get name(): string {
    return `${this.pipeline.id}/${this.partition}`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
