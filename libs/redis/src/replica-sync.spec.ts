import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { ackedReplicas, ReplicaSync, ReplicaSyncError } from './replica-sync';

/** A connection that answers COMMAND INFO like Redis 7.0 (no WAITAOF) and WAIT from a script. */
class FakeConnection extends EventEmitter {
  readonly sent: string[] = [];
  constructor(private readonly acks: number[]) {
    super();
  }
  call(command: string, ...args: unknown[]): Promise<unknown> {
    if (command === 'COMMAND') return Promise.resolve([null]);
    this.sent.push([command, ...args].join(' '));
    return new Promise((resolve) => setTimeout(() => resolve(this.acks.shift() ?? 0), 5));
  }
}

function syncOver(acks: number[], replicas = 1) {
  const conn = new FakeConnection(acks);
  const sync = new ReplicaSync(conn as unknown as Redis, { replicas, timeoutMs: 100 });
  return { conn, sync };
}

describe('ReplicaSync', () => {
  it('does nothing with REDIS_MIN_REPLICAS=0', async () => {
    const { conn, sync } = syncOver([], 0);
    await sync.confirm(sync.session);
    expect(conn.sent).toEqual([]);
  });

  it('sends WAIT on a server without WAITAOF and resolves once enough replicas acked', async () => {
    const { conn, sync } = syncOver([1]);
    await sync.confirm(sync.session);
    expect(conn.sent).toEqual(['WAIT 1 100']);
  });

  it('fails with fewer acknowledgements, and retries while asked to', async () => {
    const failures: number[] = [];
    const conn = new FakeConnection([0, 0, 2]);
    const sync = new ReplicaSync(conn as unknown as Redis, {
      replicas: 2,
      timeoutMs: 100,
      onFailure: ({ acked }) => failures.push(acked),
    });
    await expect(sync.confirm(sync.session)).rejects.toBeInstanceOf(ReplicaSyncError);
    await sync.confirm(sync.session, () => true);
    expect(failures).toEqual([0, 0]);
    expect(conn.sent).toHaveLength(3);
  });

  it('refuses a WAIT answered after the connection was lost since the write', async () => {
    const { conn, sync } = syncOver([1, 1]);
    const since = sync.session;
    conn.emit('close');
    await expect(sync.confirm(since, () => true)).rejects.toThrow('connection was lost');
    expect(conn.sent).toEqual([]);
  });

  it('lets callers that arrive during a WAIT share the next one', async () => {
    const { conn, sync } = syncOver([1, 1, 1, 1]);
    await Promise.all([1, 2, 3, 4].map(() => sync.confirm(sync.session)));
    expect(conn.sent).toHaveLength(2);
  });

  it('reads WAITAOF replies as [local, replicas]', () => {
    expect(ackedReplicas('WAITAOF', [1, 2])).toBe(2);
    expect(ackedReplicas('WAIT', 3)).toBe(3);
  });
});
