import { Controller, Get, Header, Inject } from '@nestjs/common';
import { PROMETHEUS_CONTENT_TYPE, type Telemetry } from '@sluice/telemetry';
import { TELEMETRY } from './tokens';
import { Access } from '../auth';

/** Prometheus scrape endpoint, in every process whatever its roles. */
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(TELEMETRY) private readonly telemetry: Telemetry) {}

  @Get()
  @Access('metrics')
  @Header('Content-Type', PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.telemetry.metrics.scrape();
  }
}
