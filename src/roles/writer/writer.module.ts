import { Injectable, Module } from '@nestjs/common';
import { RedisModule, ClickHouseModule } from '../../infra';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';

/** The writer role takes batches from the BullMQ queue and inserts them into ClickHouse. */
@Injectable()
export class WriterRole extends RoleService {
  protected readonly role = 'writer';

  constructor(registry: RoleRegistry) {
    super(registry);
  }

  protected async start(): Promise<void> {}

  protected async stop(): Promise<void> {}
}

@Module({ imports: [RedisModule, ClickHouseModule], providers: [WriterRole] })
export class WriterModule {}
