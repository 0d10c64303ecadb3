import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { keys, readReset, readRewind, type ResetRecord, type RewindRecord } from '@sluice/redis';
import type { PipelineDefinition } from '@sluice/pipeline';
import { REDIS } from '../infra/tokens';

export type PipelineStatus = 'running' | 'stopped';

export interface StoredPipeline {
  definition: PipelineDefinition;
  status: PipelineStatus;
  /** 1 at creation, +1 per edit that changed the definition (keys.pipelineVersions). */
  version: number;
  /** A reset is under way (README "Editing a pipeline"): its consumers stay off meanwhile, its
   * actors run to apply what was read. */
  resetting?: boolean;
}

/** What `update` did: `missing` (no such pipeline), `stale` (the version is not the one the
 * caller read), `unchanged` (the same definition: no new version) or `updated`. */
export type UpdateOutcome =
  { outcome: 'missing' } | { outcome: 'stale' | 'unchanged' | 'updated'; version: number };

const CREATE_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'running')
redis.call('HSET', KEYS[4], ARGV[1], 1)
redis.call('INCR', KEYS[3])
return 1`;

// KEYS: pipelines, versions, reload counter. ARGV: id, expected version ('*' = any), JSON.
const UPDATE_SCRIPT = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return {0, 0} end
local version = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '1')
if ARGV[2] ~= '*' and tonumber(ARGV[2]) ~= version then return {1, version} end
if stored == ARGV[3] then return {2, version} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], version + 1)
redis.call('INCR', KEYS[3])
return {3, version + 1}`;

const UPDATE_OUTCOMES = ['missing', 'stale', 'unchanged', 'updated'] as const;

/** The replies of a MULTI, or its first error. */
function replies<T>(results: [Error | null, unknown][] | null): T[] {
  if (results === null) throw new Error('pipeline store: transaction aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value as T;
  });
}

/** A version as stored: absent (pipelines created before versions were kept) is 1. */
const versionOf = (text: string | null | undefined) => (text ? Number(text) : 1);

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
    // One transaction: an edit landing between separate reads would pair a definition with
    // another version's number (an actor would label the old definition's rows as the new one).
    const [definitions = {}, statuses = {}, versions = {}, resets = {}] = replies<
      Record<string, string>
    >(
      await this.redis
        .multi()
        .hgetall(keys.pipelines())
        .hgetall(keys.pipelineStatus())
        .hgetall(keys.pipelineVersions())
        .hgetall(keys.resets())
        .exec(),
    );
    const result = new Map<string, StoredPipeline>();
    for (const [id, json] of Object.entries(definitions)) {
      result.set(id, {
        definition: JSON.parse(json) as PipelineDefinition,
        status: statuses[id] === 'stopped' ? 'stopped' : 'running',
        version: versionOf(versions[id]),
        ...(resets[id] === undefined ? {} : { resetting: true }),
      });
    }
    return result;
  }

  async get(id: string): Promise<StoredPipeline | undefined> {
    // One transaction, as in list(): the ETag must be the version of this very definition.
    const [json, status, version] = replies<string | null>(
      await this.redis
        .multi()
        .hget(keys.pipelines(), id)
        .hget(keys.pipelineStatus(), id)
        .hget(keys.pipelineVersions(), id)
        .exec(),
    );
    if (json === null || json === undefined) return undefined;
    return {
      definition: JSON.parse(json) as PipelineDefinition,
      status: status === 'stopped' ? 'stopped' : 'running',
      version: versionOf(version),
    };
  }

  /** Creates the pipeline; false when the id exists already (nothing is changed then). */
  async create(definition: PipelineDefinition): Promise<boolean> {
    // One script, so a crash cannot leave a definition whose version bump never happened (other
    // processes would not load it until the next change).
    const created = await this.redis.eval(
      CREATE_SCRIPT,
      4,
      keys.pipelines(),
      keys.pipelineStatus(),
      keys.pipelinesVersion(),
      keys.pipelineVersions(),
      definition.id,
      JSON.stringify(definition),
    );
    return Number(created) === 1;
  }

  /**
   * An edit: replaces the definition if its version is still `expected` ('*': any), as one
   * script with the version bump, so two edits from the same version cannot both win.
   */
  async update(
    id: string,
    expected: number | '*',
    definition: PipelineDefinition,
  ): Promise<UpdateOutcome> {
    const [code, version] = (await this.redis.eval(
      UPDATE_SCRIPT,
      3,
      keys.pipelines(),
      keys.pipelineVersions(),
      keys.pipelinesVersion(),
      id,
      String(expected),
      JSON.stringify(definition),
    )) as [number, number];
    const outcome = UPDATE_OUTCOMES[code] ?? 'missing';
    return outcome === 'missing' ? { outcome } : { outcome, version };
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

  /** The pipeline's reset that has not finished (a crash or a timeout mid-way), if any. */
  unfinishedReset(id: string): Promise<ResetRecord | undefined> {
    return readReset(this.redis, id);
  }

  /** Removes the definition; false when there was none. Its partition state is removed elsewhere. */
  async delete(id: string): Promise<boolean> {
    const results = await this.redis
      .multi()
      .hdel(keys.pipelines(), id)
      .hdel(keys.pipelineStatus(), id)
      .hdel(keys.rewinds(), id)
      .hdel(keys.resets(), id)
      .hdel(keys.pipelineVersions(), id)
      .incr(keys.pipelinesVersion())
      .exec();
    return Number(results?.[0]?.[1] ?? 0) === 1;
  }
}
