import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  closeRedis,
  createRedis,
  EvictingRedisError,
  evictionProblem,
  pingRedis,
  readEvictionSettings,
} from '@sluice/redis';
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
    this.readiness.register('redis', () => pingRedis(this.redis, this.config.healthTimeoutMs));
    // Start even when Redis is down: readiness says so and the connection keeps retrying.
    const connected = await this.redis.connect().then(
      () => true,
      (err: Error) => {
        this.logger.warn(`redis not reachable yet: ${err.message}`);
        return false;
      },
    );
    // Refuses an evicting Redis before anything starts; one reached later (down at start, or a
    // failover to a differently configured server) ends the process as soon as it is seen.
    if (connected) await this.checkEviction();
    this.redis.on('ready', () => {
      this.logger.log('redis connection ready');
      this.checkEviction().catch((err: unknown) => {
        if (!(err instanceof EvictingRedisError)) {
          this.logger.warn(`redis eviction check failed: ${String(err)}`);
          return;
        }
        this.logger.fatal(err.message);
        process.exit(1);
      });
    });
  }

  /** Throws EvictingRedisError when Redis may evict keys and that is not explicitly allowed. */
  private async checkEviction(): Promise<void> {
    const settings = await readEvictionSettings(this.redis);
    if (settings === undefined) {
      this.logger.warn(
        'cannot read Redis maxmemory-policy (CONFIG GET and INFO refused): make sure it is ' +
          'noeviction, or evicted keys lose or duplicate data without a word',
      );
      return;
    }
    const problem = evictionProblem(settings);
    if (problem === undefined) return;
    if (!this.config.redisAllowEviction) throw new EvictingRedisError(problem);
    this.logger.warn(`UNSAFE (REDIS_ALLOW_EVICTION=true): ${problem}`);
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
        createRedis(config.redisUrl, {
          connectionName: `sluice:${config.instanceId}`,
          tls: config.redisTls,
        }),
    },
    RedisLifecycle,
  ],
  exports: [REDIS],
})
export class RedisModule {}
