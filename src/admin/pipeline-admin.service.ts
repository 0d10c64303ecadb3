import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { type CompiledPipeline, type ContentType, PIPELINE_ID_RE } from '@sluice/pipeline';
import { PipelineState, PipelineStore } from '../pipelines';
import { DefinitionValidator } from './definition-validator';
import { DuplicatePipelineError } from './errors';

// Processes notice a deleted definition on their next poll (PipelineWatcher, every second); an
// actor still flushing, or a consumer still leaving its group, may write keys again meanwhile,
// so removal runs again after these delays.
const LATE_PURGES_MS = [3_000, 15_000];

/** Creating and removing pipelines, shared by the REST API and PIPELINES_DIR. */
@Injectable()
export class PipelineAdmin implements OnApplicationShutdown {
  private readonly logger = new Logger(PipelineAdmin.name);
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(
    private readonly store: PipelineStore,
    private readonly state: PipelineState,
    private readonly validator: DefinitionValidator,
  ) {}

  /** Validates and stores; throws DefinitionInvalidError, SinkUnavailableError or
   * DuplicatePipelineError. */
  async create(input: unknown, contentType?: ContentType): Promise<CompiledPipeline> {
    const pipeline = await this.validator.validate(input, contentType);
    if (!(await this.store.create(pipeline.definition))) {
      throw new DuplicatePipelineError(pipeline.id);
    }
    this.logger.log(`pipeline ${pipeline.id} created`);
    return pipeline;
  }

  /** `?dryRun=true`: every check `create` makes (the table too), nothing stored; the same
   * errors. */
  async check(input: unknown, contentType?: ContentType): Promise<CompiledPipeline> {
    const pipeline = await this.validator.validate(input, contentType);
    if (await this.store.get(pipeline.id)) throw new DuplicatePipelineError(pipeline.id);
    return pipeline;
  }

  /** Removes the definition and all the pipeline's state; false when there was no pipeline. */
  async remove(id: string): Promise<boolean> {
    // Ids are checked before they go into a SCAN pattern, where glob characters would widen it.
    if (!PIPELINE_ID_RE.test(id) || !(await this.store.delete(id))) return false;
    const removed = await this.state.purge(id);
    this.logger.log(`pipeline ${id} deleted (${removed} keys removed)`);
    for (const delay of LATE_PURGES_MS) {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        this.latePurge(id).catch((err: Error) =>
          this.logger.warn(`pipeline ${id}: late purge failed: ${err.message}`),
        );
      }, delay);
      this.pending.add(timer);
    }
    return true;
  }

  private async latePurge(id: string): Promise<void> {
    // A pipeline created again under the same id owns these keys now.
    if (await this.store.get(id)) return;
    const late = await this.state.purge(id);
    if (late > 0) this.logger.log(`pipeline ${id}: ${late} late keys removed`);
  }

  onApplicationShutdown(): void {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }
}
