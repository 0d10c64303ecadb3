import type { ActorAssignment } from './assignment';

/** The assignment as the coordinator publishes it in Redis (`{sl}:assignment`). */
export interface PublishedAssignment {
  coordinator: string;
  /** Coordinator epoch under which it was published. */
  epoch: number;
  /** Live owners it was computed for. */
  owners: string[];
  actors: ActorAssignment;
  publishedAt: string;
}

export function parsePublishedAssignment(json: string | null): PublishedAssignment | undefined {
  if (json === null) return undefined;
  try {
    const parsed = JSON.parse(json) as Partial<PublishedAssignment>;
    if (typeof parsed.actors !== 'object' || parsed.actors === null) return undefined;
    return {
      coordinator: parsed.coordinator ?? '',
      epoch: parsed.epoch ?? 0,
      owners: parsed.owners ?? [],
      actors: parsed.actors,
      publishedAt: parsed.publishedAt ?? '',
    };
  } catch {
    return undefined;
  }
}
