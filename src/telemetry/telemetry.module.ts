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
        eventIndexMaxBytes: config.eventIndexMaxBytes,
      }),
    },
  ],
  exports: [TELEMETRY],
})
export class TelemetryModule implements OnApplicationShutdown {
  /**
   * Nest runs every module's beforeApplicationShutdown (where the roles stop and flush their
   * last batches) before any onApplicationShutdown, so the roles' last spans exist when this
   * flushes, although this @Global module's hook is among the first of its phase to run.
   */
  async onApplicationShutdown(): Promise<void> {
    await shutdownTracing().catch(() => undefined);
  }
}
