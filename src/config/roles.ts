/** The roles a Sluice process can take; any mix runs in one process. */
export const ALL_ROLES = ['consumer', 'owner', 'writer'] as const;
export type Role = (typeof ALL_ROLES)[number];

/** Servers a process talks to; readiness checks exactly the ones its roles use. */
export type Dependency = 'redis' | 'kafka' | 'clickhouse';

/**
 * Which servers each role needs. Redis is needed by every process regardless of roles,
 * because pipeline definitions and cluster membership live there (admin runs everywhere).
 */
const ROLE_DEPENDENCIES: Record<Role, readonly Dependency[]> = {
  consumer: ['redis', 'kafka'],
  owner: ['redis'],
  writer: ['redis', 'clickhouse'],
};

export function dependenciesOf(roles: readonly Role[]): Dependency[] {
  const deps = new Set<Dependency>(['redis']);
  for (const role of roles) for (const dep of ROLE_DEPENDENCIES[role]) deps.add(dep);
  return [...deps];
}

export function isRole(value: string): value is Role {
  return (ALL_ROLES as readonly string[]).includes(value);
}
