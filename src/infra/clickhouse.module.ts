import {
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
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
      useFactory: (config: SluiceConfig) =>
        createClient({
          url: config.clickhouse.url,
          username: config.clickhouse.username,
          password: config.clickhouse.password,
          request_timeout: 30_000,
        }),
    },
    ClickHouseLifecycle,
  ],
  exports: [CLICKHOUSE],
})
export class ClickHouseModule {}
