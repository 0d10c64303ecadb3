import { Injectable } from '@nestjs/common';
import type { Dependency } from '../config';

/** Resolves when the dependency answers, rejects with the reason when it does not. */
export type Probe = () => Promise<void>;

/** Details of a condition readiness reports without failing on (the indicator stays up). */
export type Report = () => Record<string, unknown> | Promise<Record<string, unknown>>;

/**
 * The connections a process opens register their probe here. Readiness then checks exactly
 * the servers this process's roles use: a writer-only process has no Kafka probe because it
 * never loads the Kafka module at all.
 */
@Injectable()
export class ReadinessRegistry {
  private readonly probes = new Map<Dependency, Probe>();
  private readonly reports = new Map<string, Report>();

  register(dependency: Dependency, probe: Probe): void {
    this.probes.set(dependency, probe);
  }

  entries(): [Dependency, Probe][] {
    return [...this.probes.entries()].sort(([a], [b]) => a.localeCompare(b));
  }

  /**
   * A condition /health/ready shows under `name` but never fails on: one that a restart or a
   * load balancer taking the process out would not fix (e.g. input lost at the source).
   */
  report(name: string, report: Report): void {
    this.reports.set(name, report);
  }

  reporters(): [string, Report][] {
    return [...this.reports.entries()].sort(([a], [b]) => a.localeCompare(b));
  }
}
