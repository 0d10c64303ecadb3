import {
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouseClient } from '@sluice/clickhouse';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ReadinessRegistry } from '../health';
import { CLICKHOUSE } from './tokens';

/** Registers the ClickHouse readiness probe and closes the client's sockets at shutdown. */
@Injectable()
export class ClickHouseLifecycle implements OnModuleInit, OnApplicationShutdown {
  private closed = false;

  constructor(
    @Inject(CLICKHOUSE) private readonly client: ClickHouseClient,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    this.readiness.register('clickhouse', async () => {
      const result = await this.client.ping();
      if (!result.success) throw result.error;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

@Module({
  providers: [
    {
      provide: CLICKHOUSE,
      inject: [SLUICE_CONFIG],
      useFactory: (config: SluiceConfig) => {
        const { url, username, password, tls } = config.clickhouse;
        return createClickHouseClient({
          url,
          username,
          password,
          requestTimeoutMs: 30_000,
          ...(tls ? { tls } : {}),
        });
      },
    },
    ClickHouseLifecycle,
  ],
  exports: [CLICKHOUSE],
})
export class ClickHouseModule {}
