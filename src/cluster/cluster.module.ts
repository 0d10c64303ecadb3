import { Global, Module } from '@nestjs/common';
import { RedisModule } from '../infra';
import { ClusterRedisLifecycle, clusterRedisProvider } from './cluster-redis';
import { ClusterView } from './cluster-view';
import { Coordinator } from './coordinator';
import { ClusterMembership } from './membership';

/** Membership, placement coordination and the cluster view; in every process, whatever its roles. */
@Global()
@Module({
  imports: [RedisModule],
  providers: [
    clusterRedisProvider,
    ClusterRedisLifecycle,
    ClusterMembership,
    Coordinator,
    ClusterView,
  ],
  exports: [ClusterMembership, ClusterView],
})
export class ClusterModule {}
