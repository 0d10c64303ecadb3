import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { AccessGuard } from './access.guard';
import { RouteAccessCheck } from './route-access.check';

/** Access to every route: the global guard and the start-up check that each route declares it. */
@Module({
  imports: [DiscoveryModule],
  providers: [{ provide: APP_GUARD, useClass: AccessGuard }, RouteAccessCheck],
})
export class AuthModule {}
