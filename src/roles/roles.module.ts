import { Global, Module, type DynamicModule, type Type } from '@nestjs/common';
import type { Role } from '../config';
import { ConsumerModule } from './consumer/consumer.module';
import { OwnerModule } from './owner/owner.module';
import { RoleRegistry } from './role-registry';
import { WriterModule } from './writer/writer.module';

const ROLE_MODULES: Record<Role, Type> = {
  consumer: ConsumerModule,
  owner: OwnerModule,
  writer: WriterModule,
};

/**
 * Composes only the enabled role modules: a role that is off is not instantiated at all, so it
 * opens none of its connections (a writer-only process never touches Kafka).
 */
@Global()
@Module({})
export class RolesModule {
  static forRoles(roles: readonly Role[]): DynamicModule {
    return {
      module: RolesModule,
      imports: roles.map((role) => ROLE_MODULES[role]),
      providers: [RoleRegistry],
      exports: [RoleRegistry],
    };
  }
}
