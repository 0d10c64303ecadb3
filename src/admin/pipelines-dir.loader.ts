import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  type ContentType,
  type PipelineDefinition,
  isSealed,
  mapSecrets,
  parsePipelineDefinition,
} from '@sluice/pipeline';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { PipelineStore } from '../pipelines';
import { DefinitionInvalidError, DuplicatePipelineError } from './errors';
import { PipelineAdmin } from './pipeline-admin.service';

const EXTENSIONS: Record<string, ContentType> = {
  '.json': 'json',
  '.yaml': 'yaml',
  '.yml': 'yaml',
};
const RETRY_MS = 5_000;

type Outcome = 'done' | 'retry';

/**
 * Applies the definitions in PIPELINES_DIR at startup, validated like POST /pipelines. A file
 * whose pipeline exists already is compared with the stored definition; when they differ the
 * stored one is kept (changing a running pipeline in place is not safe: partitions and keys
 * decide where state lives) and the difference is logged. Invalid files are logged and skipped.
 * Files that could not be checked (ClickHouse or Redis away) are retried in the background, so
 * startup never waits on them.
 */
@Injectable()
export class PipelinesDirLoader implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PipelinesDirLoader.name);
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly store: PipelineStore,
    private readonly admin: PipelineAdmin,
  ) {}

  onApplicationBootstrap(): void {
    const dir = this.config.pipelinesDir;
    if (dir === undefined) return;
    this.running = this.applyDir(dir);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake?.();
    await this.running;
  }

  /** Resolves once every file was applied or given up on; used by startup and by tests. */
  async applyDir(dir: string): Promise<void> {
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => extname(f).toLowerCase() in EXTENSIONS).sort();
    } catch (err) {
      this.logger.error(`PIPELINES_DIR ${dir} cannot be read: ${(err as Error).message}`);
      return;
    }
    this.logger.log(`PIPELINES_DIR ${dir}: ${files.length} definition file(s)`);
    let pending = files;
    while (pending.length > 0 && !this.stopped) {
      const outcomes: Outcome[] = [];
      for (const file of pending) outcomes.push(await this.applyFile(join(dir, file)));
      pending = pending.filter((_, i) => outcomes[i] === 'retry');
      if (pending.length > 0 && !this.stopped) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, RETRY_MS);
        });
      }
    }
  }

  private async applyFile(path: string): Promise<Outcome> {
    const type = EXTENSIONS[extname(path).toLowerCase()];
    try {
      const text = await readFile(path, 'utf8');
      const parsed = parsePipelineDefinition(text, type);
      // An existing pipeline needs no ClickHouse check: it is compared, never replaced.
      const stored = parsed.ok ? await this.store.get(parsed.definition.id) : undefined;
      if (parsed.ok && stored) {
        this.compare(
          path,
          parsed.definition.id,
          parsed.definition.definition,
          this.opened(stored.definition),
        );
        return 'done';
      }
      const pipeline = await this.admin.create(text, type);
      this.logger.log(`${path}: pipeline ${pipeline.id} created`);
      return 'done';
    } catch (err) {
      if (err instanceof DefinitionInvalidError) {
        const list = err.errors.map((e) => `${e.path || '(document)'}: ${e.message}`).join('; ');
        this.logger.error(`${path}: invalid pipeline definition, skipped: ${list}`);
        return 'done';
      }
      if (err instanceof DuplicatePipelineError) return 'retry'; // created meanwhile: compare
      this.logger.warn(`${path}: not applied yet (${(err as Error).message}); retrying`);
      return 'retry';
    }
  }

  /** The stored definition with its secrets as the file would spell them (sealed ones opened). */
  private opened(stored: PipelineDefinition): PipelineDefinition {
    return mapSecrets(stored, (value) => {
      try {
        return isSealed(value) ? this.config.secrets.open(value) : value;
      } catch {
        return value;
      }
    });
  }

  private compare(path: string, id: string, fromFile: unknown, stored: unknown): void {
    if (stableJson(fromFile) === stableJson(stored)) {
      this.logger.log(`${path}: pipeline ${id} exists with the same definition`);
    } else {
      this.logger.warn(
        `${path}: pipeline ${id} exists with a different definition; keeping the stored one ` +
          `(DELETE /api/v1/pipelines/${id} and restart, or POST it again, to replace it)`,
      );
    }
  }
}

/** JSON with object keys sorted, so equal definitions compare equal whatever their key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}
