import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type ScriptArg = string | number | Buffer;

/**
 * A Lua script run by EVALSHA, loading it with EVAL when the server does not know it (first use,
 * or after a Redis restart emptied the script cache). Every key goes through KEYS so the script
 * also runs on Redis Cluster, where all of them must share one hash slot.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  run(redis: Redis, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.send(redis, keys, args, false);
  }

  /** As `run`, with string replies as Buffers (binary data). */
  runBuffer(redis: Redis, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.send(redis, keys, args, true);
  }

  private async send(
    redis: Redis,
    keys: readonly string[],
    args: readonly ScriptArg[],
    buffers: boolean,
  ): Promise<unknown> {
    // Never spread keys or args into the call: V8 throws a RangeError past ~125k spread
    // arguments, and a checkpoint can carry that many index fields. ioredis flattens one level.
    const head: ScriptArg[] = [keys.length];
    const rest = head.concat(keys, args);
    const call = (command: string, callArgs: ScriptArg[]) =>
      buffers ? redis.callBuffer(command, callArgs) : redis.call(command, callArgs);
    try {
      return await call('evalsha', [this.sha as ScriptArg].concat(rest));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return call('eval', [this.source as ScriptArg].concat(rest));
    }
  }
}
