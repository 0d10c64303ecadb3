import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, pingRedis } from '@sluice/redis';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ReadinessRegistry } from '../health';
import { REDIS } from './tokens';

/**
 * Owns the process's shared Redis connection: connects at module init, registers the readiness
 * probe, closes at shutdown. A Redis restart heals by itself (ioredis reconnects forever).
 */
@Injectable()
export class RedisLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisLifecycle.name);

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly readiness: ReadinessRegistry,
  ) {}

  async onModuleInit(): Promise<void> {
    this.redis.on('error', (err: Error) => this.logger.warn(`redis: ${err.message}`));
    this.redis.on('ready', () => this.logger.log('redis connection ready'));
    this.readiness.register('redis', () => pingRedis(this.redis, this.config.healthTimeoutMs));
    // Start even when Redis is down: readiness says so and the connection keeps retrying.
    await this.redis
      .connect()
      .catch((err: Error) => this.logger.warn(`redis not reachable yet: ${err.message}`));
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}

@Module({
  providers: [
    {
      provide: REDIS,
      inject: [SLUICE_CONFIG],
      useFactory: (config: SluiceConfig) =>
        createRedis(config.redisUrl, { connectionName: `sluice:${config.instanceId}` }),
    },
    RedisLifecycle,
  ],
  exports: [REDIS],
})
export class RedisModule {}
