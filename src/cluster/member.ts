import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Role } from '../config';

/** What an actor reports about itself in its process's heartbeat. */
export interface ActorReport {
  state: string;
  epoch: number;
}

/** One process as it describes itself in every heartbeat. */
export interface MemberRecord {
  id: string;
  host: string;
  pid: number;
  roles: Role[];
  version: string;
  startedAt: string;
  /** The HTTP port of admin, health and metrics; null until the server listens. */
  port: number | null;
  /** Actors this process runs, by `pipeline/partition`. */
  actors: Record<string, ActorReport>;
}

/** A member as seen from Redis: its record and how long ago it last beat. */
export interface Member extends MemberRecord {
  heartbeatAgeMs: number;
  alive: boolean;
}

export function parseMemberRecord(id: string, json: string | undefined): MemberRecord {
  try {
    const parsed = JSON.parse(json ?? '') as Partial<MemberRecord>;
    return {
      id,
      host: parsed.host ?? '',
      pid: parsed.pid ?? 0,
      roles: parsed.roles ?? [],
      version: parsed.version ?? '',
      startedAt: parsed.startedAt ?? '',
      port: parsed.port ?? null,
      actors: parsed.actors ?? {},
    };
  } catch {
    // A record from an incompatible version still counts as a process, with nothing known.
    return { id, host: '', pid: 0, roles: [], version: '', startedAt: '', port: null, actors: {} };
  }
}

let cachedVersion: string | undefined;

/** The version of the running build, from the package.json above the compiled code. */
export function sluiceVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = 'unknown';
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sluice') {
        cachedVersion = pkg.version ?? 'unknown';
        break;
      }
    } catch {
      // no package.json here: keep walking up
    }
  }
  return cachedVersion;
}
