import { Injectable, Logger } from '@nestjs/common';
import type { Role } from '../config';

export type RoleState = 'starting' | 'running' | 'draining' | 'stopped';

/**
 * The roles that actually started in this process and their state, for the admin API and for
 * logs. Each role module reports its own transitions here.
 */
@Injectable()
export class RoleRegistry {
  private readonly logger = new Logger(RoleRegistry.name);
  private readonly states = new Map<Role, RoleState>();

  transition(role: Role, state: RoleState): void {
    const from = this.states.get(role) ?? 'none';
    this.states.set(role, state);
    this.logger.log({ role, from, to: state }, `role ${role}: ${from} -> ${state}`);
  }

  snapshot(): Partial<Record<Role, RoleState>> {
    return Object.fromEntries(this.states);
  }
}
