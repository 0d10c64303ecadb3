import { Controller, Get, Inject } from '@nestjs/common';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { RoleRegistry } from '../roles/role-registry';
import { Access } from '../auth';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { responseSchema } from './api-schemas';

const startedAt = new Date();

/** What this process is: its identity, roles and their state, and the servers it depends on. */
@ApiTags('cluster')
@Controller('api/v1/process')
export class ProcessController {
  constructor(
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly roles: RoleRegistry,
  ) {}

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'This process: identity, roles and their state, dependencies' })
  @ApiResponse({ status: 200, description: 'this process', schema: responseSchema('process') })
  describe() {
    return {
      instanceId: this.config.instanceId,
      pid: process.pid,
      roles: this.roles.snapshot(),
      dependencies: this.config.dependencies,
      embeddedStack: this.config.embeddedStack,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round(process.uptime()),
    };
  }
}
