import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { SluiceConfig } from '../config';
import { AccessGuard } from './access.guard';
import { COSTLY_THROTTLER, COSTLY_WINDOW_MS } from './costly';
import { RouteAccessCheck } from './route-access.check';

/**
 * Access to every route: the global guard, the start-up check that each route declares it, and
 * the rate limit of the costly routes (in memory, per process).
 */
@Module({})
export class AuthModule {
  static forConfig(config: SluiceConfig): DynamicModule {
    const limit = config.api.rateLimitPerMinute;
    return {
      module: AuthModule,
      imports: [
        DiscoveryModule,
        ThrottlerModule.forRoot({
          throttlers: [
            { name: COSTLY_THROTTLER, ttl: COSTLY_WINDOW_MS, limit: Math.max(1, limit) },
          ],
          skipIf: () => limit === 0,
        }),
      ],
      providers: [{ provide: APP_GUARD, useClass: AccessGuard }, RouteAccessCheck],
    };
  }
}
