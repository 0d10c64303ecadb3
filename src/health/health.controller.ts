import { Controller, Get, Inject } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ReadinessRegistry } from './readiness.registry';
import { withTimeout } from '@sluice/redis';
import { Access } from '../auth';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { responseSchema } from '../admin/api-schemas';

// Probes never need a token: a load balancer or kubelet has none.
@Access('public')
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly registry: ReadinessRegistry,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
  ) {}

  /** Liveness is the process alone: a dependency outage must not get the process restarted. */
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process alone' })
  @ApiResponse({ status: 200, description: 'alive', schema: responseSchema('health') })
  @HealthCheck()
  live() {
    return this.health.check([
      () => this.indicators.check('process').up({ pid: process.pid, roles: this.config.roles }),
    ]);
  }

  /**
   * Readiness: 200 when every server the enabled roles use answers, else 503 naming each one
   * down. Reports (e.g. `sourceGaps`) are listed as up with their details and never fail it.
   */
  @Get('ready')
  @ApiOperation({ summary: 'Readiness: every server the roles use answers' })
  @ApiResponse({ status: 200, description: 'ready', schema: responseSchema('health') })
  @ApiResponse({
    status: 503,
    description: 'a dependency is down',
    schema: responseSchema('health'),
  })
  @HealthCheck()
  ready() {
    return this.health.check([
      ...this.registry.entries().map(
        ([name, probe]) =>
          () =>
            this.probe(name, probe),
      ),
      ...this.registry.reporters().map(
        ([name, report]) =>
          async () =>
            this.indicators.check(name).up(await report()),
      ),
    ]);
  }

  private async probe(name: string, probe: () => Promise<void>): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(name);
    try {
      await withTimeout(probe(), this.config.healthTimeoutMs, `${name} probe`);
      return indicator.up();
    } catch (err) {
      return indicator.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }
}
