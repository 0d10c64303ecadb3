import { Injectable, Module } from '@nestjs/common';
import { RedisModule, KafkaModule } from '../../infra';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';

/** The consumer role reads Kafka topics and appends their events to the pipeline partitions' mailboxes in Redis. */
@Injectable()
export class ConsumerRole extends RoleService {
  protected readonly role = 'consumer';

  constructor(registry: RoleRegistry) {
    super(registry);
  }

  protected async start(): Promise<void> {}

  protected async stop(): Promise<void> {}
}

@Module({ imports: [RedisModule, KafkaModule], providers: [ConsumerRole] })
export class ConsumerModule {}
