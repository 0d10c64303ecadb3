import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaConnectionOf } from '@sluice/kafka';
import type { CompiledPipeline, PipelineDefinition } from '@sluice/pipeline';
import {
  beginReset,
  clearHoldsBeyond,
  finishReset,
  foldRemovedPartitions,
  keys,
  markResetDropping,
  readRewind,
} from '@sluice/redis';
import { readCheckpoint } from '@sluice/redis/scripts';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { REDIS } from '../infra/tokens';
import {
  PipelineState,
  PipelineStore,
  PipelineWatcher,
  type PipelineStatus,
  type StoredPipeline,
} from '../pipelines';
import { groupIdOf } from './consumer-lag';
import { compareIds } from './dlq-listing';
import {
  IDLE_TIMEOUT_MS,
  POLL_MS,
  joinGroupAlone,
  topicPartitions,
  waitIdle,
} from './rewind/quiesce';
import type { SoleGroupMember } from './rewind/sole-member';

/** Tries to join the pipeline's group as its only member. */
const JOIN_TRIES = 3;

/** A reset that cannot go on now; `status` is the HTTP answer. */
export class ResetRefusedError extends Error {
  override readonly name = 'ResetRefusedError';
  constructor(
    readonly status: HttpStatus,
    message: string,
  ) {
    super(message);
  }
}

export interface ResetResult {
  version: number;
  status: PipelineStatus;
}

/**
 * `PUT /pipelines/:id?reset=true` for a change that cannot apply live (README "Editing a
 * pipeline", docs/architecture.md "Reset"): the old definition first applies and writes
 * everything its consumers read (they are kept off, the actors run), then the group's offsets
 * are set to the first record not applied, the per-partition state is dropped (the DLQ and the
 * counters stay, those of partitions a smaller count removes moved into the remaining ones) and
 * the new definition is stored with the next version. Each step reads what
 * is stored and redoes only what is missing: the unfinished reset is kept in `{sl}:resets` and
 * the same request sent again finishes it.
 */
@Injectable()
export class PipelineReset {
  private readonly logger = new Logger(PipelineReset.name);
  /** Pipelines this process is resetting: a client's retry waits for the first answer. */
  private readonly running = new Set<string>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly store: PipelineStore,
    private readonly state: PipelineState,
    private readonly watcher: PipelineWatcher,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
  ) {}

  async reset(
    id: string,
    stored: StoredPipeline,
    definition: PipelineDefinition,
  ): Promise<ResetResult> {
    if (this.running.has(id)) {
      throw new ResetRefusedError(
        HttpStatus.CONFLICT,
        `a reset of ${id} is running in this process: wait for its answer`,
      );
    }
    this.running.add(id);
    try {
      return await this.run(id, stored, definition);
    } finally {
      this.running.delete(id);
    }
  }

  private async run(
    id: string,
    stored: StoredPipeline,
    definition: PipelineDefinition,
  ): Promise<ResetResult> {
    const rewind = await readRewind(this.redis, id);
    if (rewind) {
      throw new ResetRefusedError(
        HttpStatus.CONFLICT,
        `pipeline ${id}: its rewind to ${rewind.to} is not finished: send that rewind again first`,
      );
    }
    const record = await beginReset(this.redis, id, {
      definition: JSON.stringify(definition),
      from: stored.version,
      resume: stored.status === 'running',
      since: Date.now(),
      phase: 'drain',
    });
    if (record.definition !== JSON.stringify(definition) || record.from !== stored.version) {
      throw new ResetRefusedError(
        HttpStatus.CONFLICT,
        `a reset of ${id} to another definition is not finished: send that PUT ?reset=true again`,
      );
    }
    const old = await this.compiled(id);
    const partitions = Math.max(old.partitions, definition.partitions);
    if (record.phase === 'drain') await this.drain(old);
    await this.store.setStatus(id, 'stopped');
    await this.idle(id, partitions);
    // Fewer partitions: the dead letters and counters of the removed ones would leave GET /dlq,
    // replay, discard and the totals; they move into the remaining ones before the drop.
    const folded = await foldRemovedPartitions(this.redis, id, definition.partitions);
    await clearHoldsBeyond(this.redis, id, definition.partitions);
    const removed = await this.state.purgeForReset(id);
    if (!(await finishReset(this.redis, id))) {
      throw new ResetRefusedError(
        HttpStatus.CONFLICT,
        `the reset of ${id} was finished by another request meanwhile: GET the pipeline`,
      );
    }
    const status: PipelineStatus = record.resume ? 'running' : 'stopped';
    this.logger.log(
      { pipeline: id, version: record.from + 1, removedKeys: removed, folded },
      `pipeline ${id} reset to definition version ${record.from + 1}`,
    );
    return { version: record.from + 1, status };
  }

  /**
   * The old definition applies what was read: consumers off (the record), actors on, until
   * every mailbox is applied and every batch is in ClickHouse; then the group reads on from the
   * first record no actor applied.
   */
  private async drain(old: CompiledPipeline): Promise<void> {
    const { id } = old;
    await this.store.setStatus(id, 'running');
    const kafka = new Kafka({
      clientId: `${this.config.kafkaClientId}-reset`,
      ...kafkaConnectionOf(old.definition.source.kafka, this.config.kafkaBrokers),
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const topics = await topicPartitions(admin, old.sources.keys());
      const member = await this.joinAlone(kafka, id, topics);
      try {
        await this.waitApplied(old);
        await this.store.setStatus(id, 'stopped');
        await this.idle(id, old.partitions);
        await this.commitApplied(old, admin, member);
        await markResetDropping(this.redis, id);
      } finally {
        await member.leave();
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * Holding every partition of the group proves the consumers are gone and keeps them out. They
   * stop once their process has loaded the reset (within a second or so): one still there when
   * we join takes a share, so a few tries.
   */
  private async joinAlone(
    kafka: Kafka,
    id: string,
    topics: ReadonlyMap<string, readonly number[]>,
  ): Promise<SoleGroupMember> {
    const busy = (message: string) =>
      new ResetRefusedError(
        HttpStatus.CONFLICT,
        `pipeline ${id}: consumers still in its Kafka group (${message}): send the reset again`,
      );
    for (let attempt = 1; ; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 2 * POLL_MS * attempt));
      try {
        return await joinGroupAlone(kafka, id, topics, busy, this.config.kafkaSessionTimeoutMs);
      } catch (err) {
        if (!(err instanceof ResetRefusedError) || attempt >= JOIN_TRIES) throw err;
      }
    }
  }

  /** Until every actor's checkpoint cursor has reached its mailbox's last entry. */
  private async waitApplied(old: CompiledPipeline): Promise<void> {
    const deadline = Date.now() + IDLE_TIMEOUT_MS;
    for (;;) {
      let waiting = 0;
      for (let n = 0; n < old.partitions; n++) {
        const [last] = await this.redis.xrevrange(keys.mailbox(old.id, n), '+', '-', 'COUNT', 1);
        if (last === undefined) continue;
        const cursor = (await this.redis.hget(keys.checkpoint(old.id, n), 'cursor')) ?? '0-0';
        if (compareIds(last[0], cursor) > 0) waiting += 1;
      }
      if (waiting === 0) return;
      if (Date.now() > deadline) {
        throw new ResetRefusedError(
          HttpStatus.CONFLICT,
          `pipeline ${old.id}: ${waiting} partitions have not applied their mailbox yet ` +
            '(a held partition never does: see its holds): send the reset again',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /**
   * With every mailbox applied, the first record of a source partition no actor applied is the
   * highest `next` of the actors (or the group's commit, if a record was committed that no
   * mailbox took): the new definition reads on from there.
   */
  private async commitApplied(
    old: CompiledPipeline,
    admin: ReturnType<Kafka['admin']>,
    member: SoleGroupMember,
  ): Promise<void> {
    const from = new Map<string, number>();
    for (let n = 0; n < old.partitions; n++) {
      const checkpoint = await readCheckpoint(this.redis, old.id, n);
      for (const [tp, next] of checkpoint?.next ?? [])
        from.set(tp, Math.max(next, from.get(tp) ?? 0));
    }
    const topics = [...old.sources.keys()];
    for (const { topic, partitions } of await admin.fetchOffsets({
      groupId: groupIdOf(old.id),
      topics,
    })) {
      for (const p of partitions) {
        const tp = `${topic}/${p.partition}`;
        if (Number(p.offset) >= 0) from.set(tp, Math.max(Number(p.offset), from.get(tp) ?? 0));
      }
    }
    const offsets = [...from].map(([tp, offset]) => {
      const cut = tp.lastIndexOf('/');
      return { topic: tp.slice(0, cut), partition: Number(tp.slice(cut + 1)), offset };
    });
    if (offsets.length > 0) await member.commit(offsets);
  }

  private async idle(id: string, partitions: number): Promise<void> {
    await waitIdle(
      this.redis,
      id,
      partitions,
      ({ held, batches }) =>
        new ResetRefusedError(
          HttpStatus.CONFLICT,
          `pipeline ${id} is stopped for the reset but not idle yet (${held} actors running, ` +
            `${batches} batches waiting for ClickHouse): send the reset again`,
        ),
    );
  }

  private async compiled(id: string): Promise<CompiledPipeline> {
    await this.watcher.refresh();
    const active = this.watcher.current().get(id);
    if (!active) {
      throw new ResetRefusedError(
        HttpStatus.SERVICE_UNAVAILABLE,
        `pipeline ${id} could not be loaded (see the log); retry`,
      );
    }
    return active.pipeline;
  }
}
