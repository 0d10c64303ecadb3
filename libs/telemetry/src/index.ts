export * from './actor-telemetry';
export * from './batch-log';
export * from './event-index';
export * from './explicit-context';
export * from './event-report';
export * from './insert-telemetry';
export * from './metrics';
export * from './sampling';
export * from './trace-context';
export * from './tracing';

import type { SluiceMetrics } from './metrics';
import type { Tracing } from './tracing';

/** What roles receive: one metrics registry and one tracing facade per process. */
export interface Telemetry {
  readonly metrics: SluiceMetrics;
  readonly tracing: Tracing;
  /** 0: find-my-event index off. */
  readonly eventIndexRetentionMs: number;
  /** Most bytes of find-my-event log per actor and index bucket (Redis memory bound). */
  readonly eventIndexMaxBytes: number;
}
