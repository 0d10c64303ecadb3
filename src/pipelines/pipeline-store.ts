import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { keys, readRewind, type RewindRecord } from '@sluice/redis';
import type { PipelineDefinition } from '@sluice/pipeline';
import { REDIS } from '../infra/tokens';

export type PipelineStatus = 'running' | 'stopped';

export interface StoredPipeline {
  definition: PipelineDefinition;
  status: PipelineStatus;
}

const CREATE_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'running')
redis.call('INCR', KEYS[3])
return 1`;

const REPLACE_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

/**
 * Pipeline definitions and their run status, kept in Redis so every process sees the same set and
 * they survive restarts. Every change bumps a version counter that processes poll to reload.
 */
@Injectable()
export class PipelineStore {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async version(): Promise<number> {
    return Number((await this.redis.get(keys.pipelinesVersion())) ?? 0);
  }

  async list(): Promise<Map<string, StoredPipeline>> {
    const [definitions, statuses] = await Promise.all([
      this.redis.hgetall(keys.pipelines()),
      this.redis.hgetall(keys.pipelineStatus()),
    ]);
    const result = new Map<string, StoredPipeline>();
    for (const [id, json] of Object.entries(definitions)) {
      result.set(id, {
        definition: JSON.parse(json) as PipelineDefinition,
        status: statuses[id] === 'stopped' ? 'stopped' : 'running',
      });
    }
    return result;
  }

  async get(id: string): Promise<StoredPipeline | undefined> {
    const [json, status] = await Promise.all([
      this.redis.hget(keys.pipelines(), id),
      this.redis.hget(keys.pipelineStatus(), id),
    ]);
    if (json === null) return undefined;
    return {
      definition: JSON.parse(json) as PipelineDefinition,
      status: status === 'stopped' ? 'stopped' : 'running',
    };
  }

  /** Creates the pipeline; false when the id exists already (nothing is changed then). */
  async create(definition: PipelineDefinition): Promise<boolean> {
    // One script, so a crash cannot leave a definition whose version bump never happened (other
    // processes would not load it until the next change).
    const created = await this.redis.eval(
      CREATE_SCRIPT,
      3,
      keys.pipelines(),
      keys.pipelineStatus(),
      keys.pipelinesVersion(),
      definition.id,
      JSON.stringify(definition),
    );
    return Number(created) === 1;
  }

  /**
   * Replaces a definition only if it is still `expected` (the stored JSON), for a change that
   * keeps its meaning (secrets sealed again under a new key): no version bump, and a concurrent
   * change or another process doing the same wins. True when replaced.
   */
  async replaceIfUnchanged(
    id: string,
    expected: string,
    next: PipelineDefinition,
  ): Promise<boolean> {
    const replaced = await this.redis.eval(
      REPLACE_SCRIPT,
      1,
      keys.pipelines(),
      id,
      expected,
      JSON.stringify(next),
    );
    return Number(replaced) === 1;
  }

  async setStatus(id: string, status: PipelineStatus): Promise<void> {
    await this.redis
      .multi()
      .hset(keys.pipelineStatus(), id, status)
      .incr(keys.pipelinesVersion())
      .exec();
  }

  /** The pipeline's rewind that has not finished (a crash or a timeout mid-way), if any. */
  unfinishedRewind(id: string): Promise<RewindRecord | undefined> {
    return readRewind(this.redis, id);
  }

  /** Removes the definition; false when there was none. Its partition state is removed elsewhere. */
  async delete(id: string): Promise<boolean> {
    const results = await this.redis
      .multi()
      .hdel(keys.pipelines(), id)
      .hdel(keys.pipelineStatus(), id)
      .hdel(keys.rewinds(), id)
      .incr(keys.pipelinesVersion())
      .exec();
    return Number(results?.[0]?.[1] ?? 0) === 1;
  }
}
