import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  type ContentType,
  type DefinitionError,
  PIPELINE_ID_RE,
  type PipelineDefinition,
  liveChangeConflicts,
} from '@sluice/pipeline';
import { keys } from '@sluice/redis';
import { REDIS } from '../infra/tokens';
import { PipelineStore, type PipelineStatus } from '../pipelines';
import { DefinitionInvalidError } from './errors';
import { DefinitionValidator } from './definition-validator';
import { PipelineReset } from './pipeline-reset';

/** The ETag of a definition version: a strong entity tag, `"3"`. */
export const etagOf = (version: number) => `"${version}"`;

/** Why an edit was refused, with its HTTP status (the controller answers the usual error body). */
export class EditRefusedError extends Error {
  override readonly name = 'EditRefusedError';

  constructor(
    readonly status: 404 | 409 | 412 | 428,
    message: string,
    readonly errors?: readonly DefinitionError[],
    /** The current version, sent back as the ETag of a 412 so a client sees what changed. */
    readonly version?: number,
  ) {
    super(message);
  }
}

export interface EditResult {
  id: string;
  status: PipelineStatus;
  version: number;
  /** False when the definition was the stored one already (no new version). */
  changed: boolean;
  definition: PipelineDefinition;
}

/**
 * `If-Match`: `*`, or one or more entity tags (`"3"`, `"3", "4"`). Weak tags never match (RFC
 * 9110: If-Match compares strongly); a bare number is taken as its tag for curl's sake.
 */
export function ifMatchVersions(header: string | undefined): '*' | number[] | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return '*';
  const versions: number[] = [];
  for (const part of header.split(',')) {
    const tag = /^\s*"?(\d{1,15})"?\s*$/.exec(part);
    if (tag?.[1] !== undefined) versions.push(Number(tag[1]));
  }
  return versions;
}

/**
 * PUT /pipelines/:id: replaces a definition in place. The new definition is validated as
 * creating it would be (the table included), then checked against the live-change rules
 * (libs/pipeline definition/edit.ts) and stored with a new version by a compare-and-set on the
 * version the caller read (If-Match). Processes load it within a second; each actor takes it up
 * at its next checkpoint boundary (see ActorPlacement.retire).
 */
@Injectable()
export class PipelineEditor {
  private readonly logger = new Logger(PipelineEditor.name);

  constructor(
    private readonly store: PipelineStore,
    private readonly validator: DefinitionValidator,
    private readonly resets: PipelineReset,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  async edit(
    id: string,
    input: unknown,
    contentType: ContentType | undefined,
    ifMatch: string | undefined,
    dryRun: boolean,
    /** `?reset=true`: a change that cannot apply live resets the pipeline (PipelineReset). */
    reset = false,
  ): Promise<EditResult> {
    const stored = PIPELINE_ID_RE.test(id) ? await this.store.get(id) : undefined;
    if (!stored) throw new EditRefusedError(404, `pipeline ${id} not found`);
    const wanted = ifMatchVersions(ifMatch);
    // A dry run may go without: it changes nothing, so there is no update to lose.
    if (wanted === undefined && !dryRun) {
      throw new EditRefusedError(
        428,
        `send If-Match with the ETag of GET /pipelines/${id} (now ${etagOf(stored.version)})`,
      );
    }
    if (wanted !== undefined && wanted !== '*' && !wanted.includes(stored.version)) {
      throw this.stale(id, stored.version);
    }
    const pipeline = await this.validator.validate(input, contentType, stored.definition);
    if (pipeline.id !== id) {
      throw new DefinitionInvalidError([
        { path: 'id', message: `must be ${id}: a pipeline's id cannot change` },
      ]);
    }
    const conflicts = liveChangeConflicts(stored.definition, pipeline.definition);
    if (conflicts.length > 0 && reset && !dryRun) {
      const { version, status } = await this.resets.reset(id, stored, pipeline.definition);
      return { id, status, version, changed: true, definition: pipeline.definition };
    }
    if (conflicts.length > 0 && !reset) {
      throw new EditRefusedError(
        409,
        `pipeline ${id}: ${conflicts.length === 1 ? 'a change' : 'changes'} a running pipeline cannot take (send it with ?reset=true to reset the pipeline to it)`,
        conflicts,
      );
    }
    const base = { id, status: stored.status, definition: pipeline.definition };
    if (dryRun) {
      const changed = JSON.stringify(stored.definition) !== JSON.stringify(pipeline.definition);
      return { ...base, version: stored.version, changed };
    }
    const result = await this.store.update(id, stored.version, pipeline.definition);
    if (result.outcome === 'missing') throw new EditRefusedError(404, `pipeline ${id} not found`);
    // Another edit won between the read and the write.
    if (result.outcome === 'stale') throw this.stale(id, result.version);
    const changed = result.outcome === 'updated';
    if (changed) this.logger.log(`pipeline ${id}: definition version ${result.version} stored`);
    return { ...base, version: result.version, changed };
  }

  /**
   * Per pipeline partition, the definition version of its last checkpoint (null before one
   * recorded a version): an edit has reached every partition when all show the new version.
   */
  async partitionVersions(id: string, partitions: number): Promise<(number | null)[]> {
    const batch = this.redis.pipeline();
    for (let p = 0; p < partitions; p++) batch.hget(keys.checkpoint(id, p), 'version');
    const replies = (await batch.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      return typeof value === 'string' ? Number(value) : null;
    });
  }

  private stale(id: string, version: number): EditRefusedError {
    return new EditRefusedError(
      412,
      `pipeline ${id} is at version ${version} (ETag ${etagOf(version)}): GET it again, edit that, and send its ETag`,
      undefined,
      version,
    );
  }
}
