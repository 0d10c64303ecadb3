import { Injectable } from '@nestjs/common';
import type { Dependency } from '../config';

/** Resolves when the dependency answers, rejects with the reason when it does not. */
export type Probe = () => Promise<void>;

/**
 * The connections a process opens register their probe here. Readiness then checks exactly
 * the servers this process's roles use: a writer-only process has no Kafka probe because it
 * never loads the Kafka module at all.
 */
@Injectable()
export class ReadinessRegistry {
  private readonly probes = new Map<Dependency, Probe>();

  register(dependency: Dependency, probe: Probe): void {
    this.probes.set(dependency, probe);
  }

  entries(): [Dependency, Probe][] {
    return [...this.probes.entries()].sort(([a], [b]) => a.localeCompare(b));
  }
}
