import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { createKafka, probeKafka, type KafkaConnectionOptions } from '@sluice/kafka';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ReadinessRegistry } from '../health';
import { KAFKA } from './tokens';

function connectionOptions(config: SluiceConfig): KafkaConnectionOptions {
  return { brokers: config.kafkaBrokers, clientId: config.kafkaClientId };
}

/** Registers the Kafka readiness probe; only roles that read Kafka import this module. */
@Injectable()
export class KafkaReadiness implements OnModuleInit {
  constructor(
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    this.readiness.register('kafka', async () => {
      await probeKafka(connectionOptions(this.config), this.config.healthTimeoutMs);
    });
  }
}

@Module({
  providers: [
    {
      provide: KAFKA,
      inject: [SLUICE_CONFIG],
      useFactory: (config: SluiceConfig) => createKafka(connectionOptions(config)),
    },
    KafkaReadiness,
  ],
  exports: [KAFKA],
})
export class KafkaModule {}
