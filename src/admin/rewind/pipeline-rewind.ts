import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import {
  kafkaConnectionOf,
  RecordReader,
  startOffsetsForTime,
  type PartitionStart,
} from '@sluice/kafka';
import { type CompiledPipeline, loadHasher } from '@sluice/pipeline';
import {
  beginRewind,
  encodeForgets,
  finishRewind,
  keys,
  readReset,
  rewindActor,
} from '@sluice/redis';
import { readCheckpoint } from '@sluice/redis/scripts';
import { SLUICE_CONFIG, type SluiceConfig } from '../../config';
import { REDIS } from '../../infra/tokens';
import { PipelineStore, PipelineWatcher, type PipelineStatus } from '../../pipelines';
import { groupIdOf } from '../consumer-lag';
import { RewindForgets } from './rewind-forgets';
import { joinGroupAlone, topicPartitions, waitIdle } from './quiesce';
import type { SoleGroupMember } from './sole-member';

/** Bytes per fetch while reading the rewound range again. */
const READ_BYTES = 1024 * 1024;

/** A rewind that cannot go on now; `status` is the HTTP answer. */
export class RewindRefusedError extends Error {
  override readonly name = 'RewindRefusedError';
  constructor(
    readonly status: HttpStatus,
    message: string,
  ) {
    super(message);
  }
}

/** Where one source partition is read again from. */
export interface RewoundPartition {
  topic: string;
  partition: number;
  /** The first offset at or after the time (Kafka timestamp). */
  timeOffset: number;
  /** Where the consumer group goes on: the time's offset, or lower when the pipeline had not
   * applied everything before it yet. */
  offset: number;
  /** `broker`: ListOffsets' answer, checked; `search`: found over fetched timestamps. */
  found: 'broker' | 'search';
}

export interface RewindResult {
  id: string;
  to: string;
  status: PipelineStatus;
  partitions: RewoundPartition[];
  /** Dedup keys forgotten (records read again that an actor had recorded). */
  forgotten: number;
}

/**
 * `POST /pipelines/:id/rewind`: reads every source partition again from its first offset at or
 * after a time, forgetting the dedup keys of what is read again (docs/architecture.md "Rewind").
 * The pipeline is stopped while the offsets move; each step reads what is stored and redoes only
 * what is missing, so a crash or a timeout is finished by the same request sent again (the
 * unfinished rewind is kept in `{sl}:rewinds` and refuses a resume or another time until then).
 */
@Injectable()
export class PipelineRewind {
  private readonly logger = new Logger(PipelineRewind.name);
  /** Pipelines this process is rewinding: a second request (a client's retry) waits its turn
   * instead of running the same steps at once. */
  private readonly running = new Set<string>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly store: PipelineStore,
    private readonly watcher: PipelineWatcher,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
  ) {}

  async rewind(id: string, to: string): Promise<RewindResult> {
    if (this.running.has(id)) {
      throw new RewindRefusedError(
        HttpStatus.CONFLICT,
        `a rewind of ${id} is running in this process: wait for its answer`,
      );
    }
    this.running.add(id);
    try {
      return await this.run(id, to);
    } finally {
      this.running.delete(id);
    }
  }

  private async run(id: string, to: string): Promise<RewindResult> {
    const toMs = Date.parse(to);
    const stored = await this.store.get(id);
    if (!stored) throw new RewindRefusedError(HttpStatus.NOT_FOUND, `pipeline ${id} not found`);
    if (stored.definition.join) {
      throw new RewindRefusedError(
        HttpStatus.CONFLICT,
        'rewind is not supported for join pipelines: their buffered join state and watermark ' +
          'cannot be taken back to a time (README "Rewind")',
      );
    }
    if (await readReset(this.redis, id)) {
      throw new RewindRefusedError(
        HttpStatus.CONFLICT,
        `pipeline ${id}: a reset is not finished: send that PUT ?reset=true again first`,
      );
    }
    const record = await beginRewind(this.redis, id, {
      to,
      resume: stored.status === 'running',
      since: Date.now(),
    });
    if (record.to !== to) {
      throw new RewindRefusedError(
        HttpStatus.CONFLICT,
        `a rewind of ${id} to ${record.to} is not finished: send it again with that time first`,
      );
    }
    if (stored.status === 'running') await this.store.setStatus(id, 'stopped');
    const pipeline = await this.compiled(id);
    await waitIdle(
      this.redis,
      id,
      pipeline.partitions,
      ({ held, batches }) =>
        new RewindRefusedError(
          HttpStatus.CONFLICT,
          `pipeline ${id} is stopped for the rewind but not idle yet (${held} actors running, ` +
            `${batches} batches waiting for ClickHouse): send the rewind again`,
        ),
    );

    const kafka = new Kafka({
      clientId: `${this.config.kafkaClientId}-rewind`,
      ...kafkaConnectionOf(pipeline.definition.source.kafka, this.config.kafkaBrokers),
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const reader = new RecordReader(kafka);
    let result: RewindResult;
    try {
      await admin.connect();
      const partitions = await topicPartitions(admin, pipeline.sources.keys());
      const member = await joinGroupAlone(
        kafka,
        id,
        partitions,
        (message) =>
          new RewindRefusedError(
            HttpStatus.CONFLICT,
            `pipeline ${id}: consumers still in its Kafka group (${message}): send the rewind again`,
          ),
        this.config.kafkaSessionTimeoutMs,
      );
      try {
        result = await this.moveBack(pipeline, to, toMs, admin, reader, member);
      } finally {
        await member.leave();
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
      await reader.close();
    }
    await finishRewind(this.redis, id, record.resume);
    result.status = record.resume ? 'running' : 'stopped';
    this.logger.log(
      { pipeline: id, to, forgotten: result.forgotten, partitions: result.partitions },
      `pipeline ${id} rewound to ${to}`,
    );
    return result;
  }

  /** The steps with the group held: plan, forget, move the actors, commit the offsets. */
  private async moveBack(
    pipeline: CompiledPipeline,
    to: string,
    toMs: number,
    admin: ReturnType<Kafka['admin']>,
    reader: RecordReader,
    member: SoleGroupMember,
  ): Promise<RewindResult> {
    const { id } = pipeline;
    const next = await Promise.all(
      Array.from({ length: pipeline.partitions }, async (_, n) => {
        const checkpoint = await readCheckpoint(this.redis, id, n);
        return checkpoint?.next ?? new Map<string, number>();
      }),
    );
    const topics = [...pipeline.sources.keys()];
    const committed = new Map<string, number>();
    for (const { topic, partitions } of await admin.fetchOffsets({
      groupId: groupIdOf(id),
      topics,
    })) {
      for (const p of partitions) {
        if (Number(p.offset) >= 0) committed.set(`${topic}/${p.partition}`, Number(p.offset));
      }
    }
    const plan: (RewoundPartition & { end: number })[] = [];
    for (const topic of topics) {
      const starts: PartitionStart[] = await startOffsetsForTime(admin, reader, topic, toMs);
      for (const start of starts) {
        const tp = `${topic}/${start.partition}`;
        const applied = next.map((m) => m.get(tp)).filter((n): n is number => n !== undefined);
        const commit = committed.get(tp);
        // Never read: its first start follows `startFrom`, nothing to take back.
        if (applied.length === 0 && commit === undefined) continue;
        // Not below what some actor has not applied yet, nor below the group's commit: the
        // records between are read again and skipped where applied (the actors' `next`).
        const offset = Math.min(
          start.offset,
          ...applied,
          ...(commit === undefined ? [] : [commit]),
        );
        const end = Math.max(start.offset, ...applied);
        plan.push({
          topic,
          partition: start.partition,
          timeOffset: start.offset,
          offset,
          found: start.how,
          end,
        });
      }
    }

    // 1. Forget first: once an actor's `next` is lowered, a retry no longer sees what it had
    // applied beyond the time, so every forget must be written before any `next` moves.
    const forgets = new RewindForgets(pipeline, await loadHasher(), next, Date.now());
    for (const p of plan) {
      if (p.end <= p.timeOffset || !pipeline.sources.get(p.topic)?.dedup) continue;
      for (let from = p.timeOffset; from < p.end;) {
        const page = await reader.page(p.topic, p.partition, from, READ_BYTES);
        const last = page[page.length - 1];
        if (last === undefined) break;
        for (const r of page) {
          if (r.offset < p.end) forgets.add({ topic: p.topic, partition: p.partition, ...r });
        }
        from = last.offset + 1;
      }
    }
    if (forgets.size > 0) {
      const tx = this.redis.pipeline();
      for (const [actor, list] of forgets.byActor()) {
        tx.append(keys.dedupForgets(id, actor), encodeForgets(list));
      }
      for (const [err] of (await tx.exec()) ?? []) if (err) throw err;
    }

    // 2. Each actor goes on from the time (or where it was, if that is earlier), its unapplied
    // mailbox entries dropped (read again from Kafka).
    for (let n = 0; n < pipeline.partitions; n++) {
      const moved = new Map<string, number>(next[n]);
      for (const p of plan) {
        const tp = `${p.topic}/${p.partition}`;
        const at = moved.get(tp);
        if (at !== undefined && at > p.timeOffset) moved.set(tp, p.timeOffset);
      }
      if (!(await rewindActor(this.redis, id, n, moved))) {
        throw new RewindRefusedError(
          HttpStatus.CONFLICT,
          `actor ${id}/${n} was started again during the rewind: send the rewind again`,
        );
      }
    }

    // 3. The group reads on from there.
    if (plan.length > 0) {
      await member.commit(
        plan.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      );
    }
    return {
      id,
      to,
      status: 'stopped',
      partitions: plan.map(({ end: _, ...p }) => p),
      forgotten: forgets.size,
    };
  }

  private async compiled(id: string): Promise<CompiledPipeline> {
    if (!this.watcher.current().has(id)) await this.watcher.refresh();
    const active = this.watcher.current().get(id);
    if (!active) {
      throw new RewindRefusedError(
        HttpStatus.SERVICE_UNAVAILABLE,
        `pipeline ${id} could not be loaded (see the log); retry`,
      );
    }
    return active.pipeline;
  }
}
