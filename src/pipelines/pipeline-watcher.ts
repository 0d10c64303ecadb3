import { EventEmitter } from 'node:events';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  type CompiledPipeline,
  type PipelineDefinition,
  mapSecrets,
  parsePipelineDefinition,
  resolveDefinitionSecrets,
} from '@sluice/pipeline';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { PipelineStore, type PipelineStatus } from './pipeline-store';

export interface ActivePipeline {
  pipeline: CompiledPipeline;
  status: PipelineStatus;
  /** The definition version (PipelineStore): an edit gives a new one. */
  version: number;
  /** A reset is under way: consumers stay off, actors run (PipelineStore `resetting`). */
  resetting?: boolean;
}

/** How often processes look for changed definitions (one GET of a counter when nothing changed). */
const POLL_MS = 1_000;

/**
 * Keeps every process's view of the pipelines current: polls the store's version counter and,
 * when it moved, reloads and recompiles the definitions, then emits `change` with the full set.
 * Roles react to `change` (start or stop consumers, actors) and read `current()` at any time.
 */
@Injectable()
export class PipelineWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PipelineWatcher.name);
  private readonly events = new EventEmitter();
  private pipelines = new Map<string, ActivePipeline>();
  private seenVersion = -1;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: PipelineStore,
    @Inject(SLUICE_CONFIG) private readonly config: Pick<SluiceConfig, 'secrets'>,
  ) {}

  current(): ReadonlyMap<string, ActivePipeline> {
    return this.pipelines;
  }

  onChange(listener: (pipelines: ReadonlyMap<string, ActivePipeline>) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.refresh().catch((err: Error) =>
      this.logger.warn(`pipelines not loaded yet: ${err.message}`),
    );
    this.timer = setInterval(() => {
      this.polling ??= this.refresh()
        .catch((err: Error) => this.logger.warn(`pipeline refresh failed: ${err.message}`))
        .finally(() => (this.polling = undefined));
    }, POLL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    this.events.removeAllListeners();
  }

  /**
   * Key rotation: secrets sealed under SECRETS_KEY_PREVIOUS are sealed again under SECRETS_KEY
   * and written back if the definition did not change meanwhile (every process may try; one
   * wins, the others' writes are refused). The meaning is unchanged, so nothing reloads.
   */
  private async resealIfStale(id: string, sealed: PipelineDefinition): Promise<void> {
    const box = this.config.secrets;
    const stale: string[] = [];
    const next = mapSecrets(sealed, (value, path) => {
      if (!box.needsReseal(value) || !box.canSeal) return value;
      stale.push(path);
      return box.seal(box.open(value));
    });
    if (stale.length === 0) return;
    if (await this.store.replaceIfUnchanged(id, JSON.stringify(sealed), next)) {
      this.logger.log(`pipeline ${id}: ${stale.join(', ')} sealed again under SECRETS_KEY`);
    }
  }

  /** Reloads when the version moved; resolves after listeners have been told. */
  async refresh(): Promise<void> {
    const version = await this.store.version();
    if (version === this.seenVersion) return;
    const stored = await this.store.list();
    const next = new Map<string, ActivePipeline>();
    for (const [id, { definition: sealed, status, version: defVersion, resetting }] of stored) {
      // Secrets are resolved here, in the process that connects with them (README "Security").
      let definition: PipelineDefinition;
      try {
        definition = resolveDefinitionSecrets(sealed, this.config.secrets);
      } catch (err) {
        this.logger.error(`pipeline ${id} skipped: ${(err as Error).message}`);
        continue;
      }
      await this.resealIfStale(id, sealed).catch((err: Error) =>
        this.logger.warn(`pipeline ${id}: secrets not sealed again yet: ${err.message}`),
      );
      const parsed = parsePipelineDefinition(definition);
      if (!parsed.ok) {
        // Stored definitions were valid when created; one that no longer parses (an upgrade
        // changed a rule) is skipped loudly rather than taking the process down.
        this.logger.error(`pipeline ${id} no longer parses: ${JSON.stringify(parsed.errors)}`);
        continue;
      }
      next.set(id, {
        pipeline: parsed.definition,
        status,
        version: defVersion,
        ...(resetting ? { resetting } : {}),
      });
    }
    this.pipelines = next;
    this.seenVersion = version;
    this.events.emit('change', this.pipelines);
  }
}
