import { Global, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SluiceMetrics, type Telemetry } from '@sluice/telemetry';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { getTracing, shutdownTracing } from '../tracing';
import { MetricsController } from './metrics.controller';
import { TELEMETRY } from './tokens';

/** Metrics registry and tracing of the process, for every role; serves GET /metrics. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [
    {
      provide: TELEMETRY,
      inject: [SLUICE_CONFIG],
      useFactory: (config: SluiceConfig): Telemetry => ({
        metrics: new SluiceMetrics(),
        tracing: getTracing(),
        eventIndexRetentionMs: config.eventIndexRetentionMs,
      }),
    },
  ],
  exports: [TELEMETRY],
})
export class TelemetryModule implements OnApplicationShutdown {
  /** Runs after the roles stopped, so their last spans are exported. */
  async onApplicationShutdown(): Promise<void> {
    await shutdownTracing().catch(() => undefined);
  }
}
