import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import type { Role } from '../config';
import type { RoleRegistry } from './role-registry';

/**
 * Lifecycle shared by the role entry points: work starts only once the whole application has
 * bootstrapped (every connection registered), and stops being taken before connections close.
 * Subclasses supply start() and stop(); transitions are logged by the registry.
 */
export abstract class RoleService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  protected abstract readonly role: Role;

  protected constructor(protected readonly registry: RoleRegistry) {}

  protected abstract start(): Promise<void>;
  protected abstract stop(): Promise<void>;

  async onApplicationBootstrap(): Promise<void> {
    this.registry.transition(this.role, 'starting');
    await this.start();
    this.registry.transition(this.role, 'running');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.registry.transition(this.role, 'draining');
    try {
      await this.stop();
    } finally {
      this.registry.transition(this.role, 'stopped');
    }
  }
}
