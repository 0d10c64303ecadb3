import { Controller, Get, Header, Inject } from '@nestjs/common';
import { PROMETHEUS_CONTENT_TYPE, type Telemetry } from '@sluice/telemetry';
import { TELEMETRY } from './tokens';
import { Access } from '../auth';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';

/** Prometheus scrape endpoint, in every process whatever its roles. */
@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(TELEMETRY) private readonly telemetry: Telemetry) {}

  @Get()
  @Access('metrics')
  @ApiOperation({ summary: 'Prometheus metrics' })
  @ApiProduces(PROMETHEUS_CONTENT_TYPE)
  @ApiResponse({ status: 200, description: 'Prometheus text format', schema: { type: 'string' } })
  @Header('Content-Type', PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.telemetry.metrics.scrape();
  }
}
