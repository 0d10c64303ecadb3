import { Injectable, Module } from '@nestjs/common';
import { RedisModule } from '../../infra';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';

/** The owner role runs the partition actors (filter, dedup, join, transform, batch) and checkpoints them in Redis. */
@Injectable()
export class OwnerRole extends RoleService {
  protected readonly role = 'owner';

  constructor(registry: RoleRegistry) {
    super(registry);
  }

  protected async start(): Promise<void> {}

  protected async stop(): Promise<void> {}
}

@Module({ imports: [RedisModule], providers: [OwnerRole] })
export class OwnerModule {}
