import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SLUICE_CONFIG, type SluiceConfig } from './config';

/** Marks the worker thread main.js starts in (workerData). */
export const OWNER_THREAD_DATA = { sluiceOwnerThread: true } as const;
export const THREAD_READY = 'ready';
export const THREAD_STOP = 'stop';

/**
 * The environment of the owner thread: the process's own, with the thread's roles, the servers
 * the main thread resolved (an embedded stack is started once, by the main thread), no HTTP port
 * and no pipelines directory (the main thread applies it), and a member id of its own.
 */
export function ownerThreadEnv(env: NodeJS.ProcessEnv, config: SluiceConfig): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...env,
    ROLES: config.threadRoles.join(','),
    OWNER_THREAD: '0',
    INSTANCE_ID: `${config.instanceId}-owner`,
    REDIS_URL: config.redisUrl,
  };
  if (config.kafkaBrokers.length > 0) out.KAFKA_BROKERS = config.kafkaBrokers.join(',');
  if (config.clickhouse.url !== '') out.CLICKHOUSE_URL = config.clickhouse.url;
  delete out.PIPELINES_DIR;
  return out;
}

/**
 * Runs the owner and writer roles (OWNER_THREAD=1) in a worker thread with its own event loop.
 * In one loop, the 16 actors' entry applies and checkpoints delay every round trip of the
 * consumer and of the writer's BullMQ worker (which fetches jobs one awaited call at a time);
 * two loops keep each side's hops short, as two processes do, in one process. The thread is a
 * second Sluice application (a cluster member of its own); if it dies, the process exits, as
 * a crashed process would: the protocol recovers from its checkpoints.
 */
@Injectable()
export class OwnerThread implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OwnerThread.name);
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;
  private stopping = false;

  constructor(@Inject(SLUICE_CONFIG) private readonly config: SluiceConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    const worker = new Worker(join(__dirname, 'main.js'), {
      env: ownerThreadEnv(process.env, this.config),
      workerData: OWNER_THREAD_DATA,
    });
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('error', (err) => this.logger.error(`owner thread failed: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m) =>
        m === THREAD_READY ? resolve() : reject(new Error(String(m))),
      );
      worker.once('exit', (code) => reject(new Error(`owner thread exited with code ${code}`)));
    });
    worker.on('exit', (code) => {
      if (this.stopping) return;
      this.logger.error(`owner thread exited with code ${code}: exiting the process`);
      process.exit(1);
    });
    this.logger.log(`roles ${this.config.threadRoles.join(',')} running in the owner thread`);
  }

  /** The thread closes its application (actors flush and release leases), then exits. */
  async beforeApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined || this.stopping) return;
    this.stopping = true;
    worker.postMessage(THREAD_STOP);
    const deadline = new Promise<'late'>((resolve) =>
      setTimeout(() => resolve('late'), this.config.shutdownTimeoutMs).unref(),
    );
    if ((await Promise.race([this.exited, deadline])) === 'late') {
      this.logger.warn('owner thread did not stop in time: terminating it');
      await worker.terminate();
    }
  }
}

@Module({ providers: [OwnerThread] })
export class OwnerThreadModule {}
