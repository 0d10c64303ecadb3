// Readiness of the Kafka clusters a consumer reads: one probe per distinct broker set and security
// (pipelines sharing a cluster and credentials share it), each with that connection's own TLS and
// SASL, and the outcome kept briefly so frequent probes (kubelet, load balancer) do not open a
// connection per pipeline per request.
import {
  connectionKey,
  kafkaConnectionOf,
  type KafkaConnection,
  type KafkaSource,
} from './kafka-security';

export interface ProbeTarget {
  /** Pipeline id shown when its cluster is down; undefined for the process's own brokers. */
  readonly id?: string;
  readonly kafka: KafkaSource;
}

export interface ClusterOutcome {
  readonly brokers: readonly string[];
  readonly pipelines: readonly string[];
  /** Undefined when the cluster answered. */
  readonly error?: string;
}

export interface ClusterProbesOptions {
  /** How long an outcome is reused. */
  cacheMs: number;
  now?: () => number;
}

/** Resolves when the cluster answers with this connection's security; rejects with why not. */
export type ConnectionProbe = (connection: KafkaConnection) => Promise<void>;

interface Entry {
  at: number;
  settled: boolean;
  outcome: Promise<string | undefined>;
}

export class ClusterProbes {
  private readonly cache = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(
    private readonly probe: ConnectionProbe,
    private readonly options: ClusterProbesOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** One outcome per distinct connection of `targets`, in the order first seen. */
  async check(targets: readonly ProbeTarget[]): Promise<ClusterOutcome[]> {
    const groups = new Map<string, { kafka: KafkaSource; pipelines: string[] }>();
    for (const { id, kafka } of targets) {
      const key = connectionKey(kafka);
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { kafka, pipelines: [] }));
      if (id !== undefined) group.pipelines.push(id);
    }
    // Connections no pipeline uses any more are forgotten.
    for (const key of this.cache.keys()) if (!groups.has(key)) this.cache.delete(key);
    return Promise.all(
      [...groups].map(async ([key, { kafka, pipelines }]) => {
        const error = await this.outcome(key, kafka);
        const brokers = [...kafka.brokers];
        return error === undefined ? { brokers, pipelines } : { brokers, pipelines, error };
      }),
    );
  }

  private outcome(key: string, kafka: KafkaSource): Promise<string | undefined> {
    const cached = this.cache.get(key);
    // A probe still running is shared, however long it takes: its own timeout bounds it.
    if (cached && (!cached.settled || this.now() - cached.at < this.options.cacheMs)) {
      return cached.outcome;
    }
    const entry: Entry = { at: this.now(), settled: false, outcome: Promise.resolve(undefined) };
    entry.outcome = this.probe(kafkaConnectionOf(kafka))
      .then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      )
      .finally(() => {
        entry.settled = true;
        entry.at = this.now();
      });
    this.cache.set(key, entry);
    return entry.outcome;
  }
}

/** Why readiness fails, naming each cluster down and the pipelines reading from it. */
export function describeDownClusters(outcomes: readonly ClusterOutcome[]): string {
  return outcomes
    .filter((o) => o.error !== undefined)
    .map((o) => {
      const readers = o.pipelines.length > 0 ? ` (pipelines ${o.pipelines.join(', ')})` : '';
      return `${o.brokers.join(',')}${readers}: ${o.error ?? ''}`;
    })
    .join('; ');
}
