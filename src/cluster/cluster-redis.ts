import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createRedis } from '@sluice/redis';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';

/**
 * The cluster's own Redis connection: heartbeats, the coordinator lock and the assignment must not
 * queue behind a consumer's large mailbox pipelines on the shared connection, or a busy process
 * would look dead. Closed by ClusterMembership after it has left.
 */
export const CLUSTER_REDIS = Symbol('ClusterRedis');

export const clusterRedisProvider = {
  provide: CLUSTER_REDIS,
  inject: [SLUICE_CONFIG],
  useFactory: (config: SluiceConfig) =>
    createRedis(config.redisUrl, {
      connectionName: `sluice:${config.instanceId}:cluster`,
      tls: config.redisTls,
    }),
};

@Injectable()
export class ClusterRedisLifecycle implements OnModuleInit {
  private readonly logger = new Logger('ClusterRedis');

  constructor(@Inject(CLUSTER_REDIS) private readonly redis: Redis) {}

  async onModuleInit(): Promise<void> {
    this.redis.on('error', () => undefined);
    // Start even when Redis is down: heartbeats retry, and ioredis reconnects forever.
    await this.redis
      .connect()
      .catch((err: Error) => this.logger.warn(`redis not reachable yet: ${err.message}`));
  }
}
