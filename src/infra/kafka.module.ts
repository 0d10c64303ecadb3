import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import {
  ClusterProbes,
  createKafka,
  describeDownClusters,
  probeKafka,
  type KafkaConnectionOptions,
  type ProbeTarget,
} from '@sluice/kafka';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ReadinessRegistry } from '../health';
import { PipelineWatcher } from '../pipelines/pipeline-watcher';
import { KAFKA } from './tokens';

/** A cluster's outcome is reused this long: probes come often and each opens a connection. */
const PROBE_CACHE_MS = 5_000;

function connectionOptions(config: SluiceConfig): KafkaConnectionOptions {
  return { brokers: config.kafkaBrokers, clientId: config.kafkaClientId };
}

/**
 * Registers the Kafka readiness probe; only roles that read Kafka import this module. It checks
 * the clusters the consumer reads: each running pipeline's brokers with that pipeline's own TLS
 * and SASL (one probe per distinct broker set and security), so a secured cluster is not read as
 * down; with no running pipeline, KAFKA_BROKERS as configured.
 *
 * The probe fails only when none of them answers: then the process can read nothing. One
 * pipeline's cluster down (or its brokers or certificates wrong) while others answer is that
 * pipeline's problem, shown under `kafkaClusters` as a report: failing readiness for it would take
 * every process out of service (and the admin API with it, behind a load balancer) for all
 * pipelines, and stall rolling upgrades, while fixing nothing.
 */
@Injectable()
export class KafkaReadiness implements OnModuleInit {
  private readonly probes: ClusterProbes;

  constructor(
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly readiness: ReadinessRegistry,
    private readonly watcher: PipelineWatcher,
  ) {
    this.probes = new ClusterProbes(
      async (connection) => {
        await probeKafka(
          { ...connection, clientId: this.config.kafkaClientId },
          this.config.healthTimeoutMs,
        );
      },
      { cacheMs: PROBE_CACHE_MS },
    );
  }

  onModuleInit(): void {
    this.readiness.register('kafka', async () => {
      const outcomes = await this.probes.check(this.targets());
      if (outcomes.every((o) => o.error !== undefined)) {
        throw new Error(describeDownClusters(outcomes));
      }
    });
    // The same outcomes (kept PROBE_CACHE_MS), as a report: the clusters down beside ones up.
    this.readiness.report('kafkaClusters', async () => {
      const outcomes = await this.probes.check(this.targets());
      const down = outcomes.filter((o) => o.error !== undefined);
      return { down: down.map(({ brokers, pipelines, error }) => ({ brokers, pipelines, error })) };
    });
  }

  private targets(): ProbeTarget[] {
    const targets: ProbeTarget[] = [];
    for (const [id, { pipeline, status }] of this.watcher.current()) {
      if (status === 'running') targets.push({ id, kafka: pipeline.kafka });
    }
    if (targets.length > 0) return targets;
    return [{ kafka: { brokers: this.config.kafkaBrokers, ssl: false, sasl: null } }];
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
