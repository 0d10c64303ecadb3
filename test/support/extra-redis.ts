import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisServerPath } from '@sluice/stack/system-packages';
import { TEST_STACK_DIR } from './paths';
import { freePort } from './sluice-process';

/**
 * A Debian redis-server a test starts beside the stack's (a replica, an evicting server): its
 * own port and data dir under the test stack dir, AOF `always` like the stack's, stopped (or
 * paused, killed) by its PID only, and its dir removed at stop.
 */
export class ExtraRedis {
  private exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(name: string, extraArgs: string[] = []): Promise<ExtraRedis> {
    const server = redisServerPath();
    if (!server) throw new Error('redis-server is not installed');
    const port = await freePort();
    const dir = join(TEST_STACK_DIR, `extra-redis-${name}-${port}`);
    mkdirSync(dir, { recursive: true });
    const args = [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
      ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
      ...['--daemonize', 'no', '--logfile', ''],
      ...extraArgs,
    ];
    const child = spawn(server, args, { cwd: dir, stdio: 'ignore' });
    const redis = new ExtraRedis(child, port, dir);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (await redis.ping()) return redis;
      if (Date.now() > deadline) {
        await redis.stop();
        throw new Error(`extra redis ${name} on ${port} did not start`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** A short-lived client for one command sequence. */
  async command<T>(fn: (client: Redis) => Promise<T>): Promise<T> {
    const client = new Redis(this.port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await fn(client);
    } finally {
      client.disconnect();
    }
  }

  async ping(): Promise<boolean> {
    return this.command((c) => c.ping())
      .then((reply) => reply === 'PONG')
      .catch(() => false);
  }

  /** SIGSTOP / SIGCONT: a replica that stops acknowledging without its primary noticing. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its dir. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGCONT');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
