import type { Redis } from 'ioredis';

/** Fewer replicas than required acknowledged a connection's writes in time (or it reconnected). */
export class ReplicaSyncError extends Error {
  override readonly name = 'ReplicaSyncError';
}

export type SyncCommand = 'WAIT' | 'WAITAOF';

export interface ReplicaSyncOptions {
  /** REDIS_MIN_REPLICAS: 0 turns every wait into a no-op. */
  replicas: number;
  /** How long one WAIT may block the connection before it counts as failed. */
  timeoutMs: number;
  /** Every failed WAIT: fewer acknowledgements than required (metric, log). */
  onFailure?: (failure: { acked: number; required: number; command: SyncCommand }) => void;
}

const RETRY_MS = 500;

/**
 * Makes a connection's writes safe against a failover before anything outside Redis depends on
 * them (Kafka offsets committed, batch jobs announced): `WAIT n timeout`, or `WAITAOF 0 n timeout`
 * where the server has it (Redis 7.2+; the replica then acknowledges only once its AOF holds the
 * write, so it also survives the replica's own restart). WAIT covers every write the connection
 * made before it, so it must run on the connection that wrote, and concurrent callers share one.
 *
 * A WAIT answered on a connection that reconnected since the writes proves nothing (Redis counts
 * from the new server-side client's writes, and a promoted replica may never have seen them):
 * `session` changes on every disconnect, and `confirm` fails when it changed since the write.
 */
export class ReplicaSync {
  private sessionCount = 0;
  private command: Promise<SyncCommand> | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    private readonly conn: Redis,
    private readonly options: ReplicaSyncOptions,
  ) {
    conn.on('close', () => {
      this.sessionCount += 1;
    });
  }

  get enabled(): boolean {
    return this.options.replicas > 0;
  }

  get required(): number {
    return this.options.replicas;
  }

  /** Changes whenever the connection is lost; read it before writing, give it to `confirm`. */
  get session(): number {
    return this.sessionCount;
  }

  /**
   * Resolves once the required replicas acknowledged every write this connection made before the
   * call; retries a failed WAIT every 500 ms while `keepTrying()` says so (at least one try).
   * Rejects with ReplicaSyncError when it gives up or the connection changed since `since`.
   */
  async confirm(since: number, keepTrying: () => boolean = () => false): Promise<void> {
    if (!this.enabled) return;
    for (;;) {
      if (this.sessionCount !== since) {
        throw new ReplicaSyncError('the Redis connection was lost since the write');
      }
      try {
        await this.waitOnce();
        if (this.sessionCount !== since) {
          throw new ReplicaSyncError('the Redis connection was lost since the write');
        }
        return;
      } catch (err) {
        if (!(err instanceof ReplicaSyncError) || !keepTrying()) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      if (!keepTrying()) throw new ReplicaSyncError('gave up waiting for replicas');
    }
  }

  /** One WAIT; a caller arriving while one runs shares the next (it may predate its write). */
  private waitOnce(): Promise<void> {
    if (this.running === undefined) return this.start();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<void> {
    const run = this.send().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async send(): Promise<void> {
    const { replicas, timeoutMs } = this.options;
    const command = await this.syncCommand();
    const reply =
      command === 'WAITAOF'
        ? await this.conn.call('WAITAOF', 0, replicas, timeoutMs)
        : await this.conn.call('WAIT', replicas, timeoutMs);
    const acked = ackedReplicas(command, reply);
    if (acked < replicas) {
      this.options.onFailure?.({ acked, required: replicas, command });
      throw new ReplicaSyncError(
        `${acked} of ${replicas} replica(s) acknowledged within ${timeoutMs} ms (${command})`,
      );
    }
  }

  private syncCommand(): Promise<SyncCommand> {
    this.command ??= detectSyncCommand(this.conn).catch((err: unknown) => {
      this.command = undefined;
      throw err;
    });
    return this.command;
  }
}

/** Replicas that acknowledged, from a WAIT (integer) or WAITAOF ([local, replicas]) reply. */
export function ackedReplicas(command: SyncCommand, reply: unknown): number {
  if (command === 'WAITAOF') return Array.isArray(reply) ? Number(reply[1] ?? 0) : 0;
  return Number(reply);
}

/**
 * WAITAOF where the server has it (COMMAND INFO answers nil for an unknown command), else WAIT;
 * a server that refuses COMMAND INFO (ACLs, managed Redis) gets WAIT.
 */
export async function detectSyncCommand(conn: Redis): Promise<SyncCommand> {
  try {
    const reply = (await conn.call('COMMAND', 'INFO', 'WAITAOF')) as unknown[];
    return Array.isArray(reply) && reply[0] ? 'WAITAOF' : 'WAIT';
  } catch (err) {
    // The server answered (an error reply): it is up and does not let us ask.
    if (err instanceof Error && err.name === 'ReplyError') return 'WAIT';
    throw err;
  }
}
