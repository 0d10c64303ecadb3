import { Inject, Injectable } from '@nestjs/common';
import { parse as parseYaml } from 'yaml';
import {
  type CompiledPipeline,
  type ContentType,
  type DefinitionError,
  destinationErrors,
  type ClickHouseSink,
  isSealed,
  keepRedactedSecrets,
  keepUnchangedSecrets,
  type PipelineDefinition,
  parsePipelineDefinition,
  REDACTED,
  resolveSecret,
  resolveSinkSecrets,
  SecretResolutionError,
  sealDefinitionSecrets,
} from '@sluice/pipeline';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { DefinitionInvalidError } from './errors';
import { checkSink, type SinkSpec } from './sink-check';

/**
 * Validates a definition the way POST /pipelines and PIPELINES_DIR need it: the document itself
 * (field rules, CEL, durations), then the target table in ClickHouse. Throws
 * DefinitionInvalidError listing every error, or SinkUnavailableError when ClickHouse cannot be
 * asked about a definition that is otherwise valid.
 */
@Injectable()
export class DefinitionValidator {
  constructor(
    @Inject(SLUICE_CONFIG)
    private readonly config: Pick<SluiceConfig, 'allowedHosts' | 'secrets'>,
  ) {}

  /**
   * The pipeline to store: its definition with inline secrets sealed (or refused without
   * SECRETS_KEY), after the sink check, which connects with the resolved sink password, TLS key
   * and certificates. For an edit, `stored` is the definition it replaces: a secret sent as ***
   * keeps the stored one, and a secret that did not change keeps its stored (sealed) text.
   */
  async validate(
    input: unknown,
    contentType?: ContentType,
    stored?: PipelineDefinition,
  ): Promise<CompiledPipeline> {
    const parsed = parsePipelineDefinition(input, contentType);
    // Hosts first: nothing connects to a host outside PIPELINE_ALLOWED_HOSTS, not even the sink
    // check of an otherwise invalid document.
    const doc = parsed.ok ? parsed.definition.definition : decodeLoosely(input, contentType);
    const hostErrors = destinationErrors(doc, this.config.allowedHosts);
    if (hostErrors.length > 0) {
      throw new DefinitionInvalidError([...hostErrors, ...(parsed.ok ? [] : parsed.errors)]);
    }
    if (parsed.ok) {
      const given = stored
        ? keepRedactedSecrets(parsed.definition.definition, stored, (v) => this.openStored(v))
        : parsed.definition.definition;
      const sealed = sealDefinitionSecrets(given, this.config.secrets);
      if (sealed.errors.length > 0) throw new DefinitionInvalidError(sealed.errors);
      const sink = given.sink.clickhouse;
      const columns = parsed.definition.columns.map((c) => c.column);
      const errors = await checkSink(this.resolveSink(sink), columns);
      if (errors.length > 0) throw new DefinitionInvalidError(errors);
      const definition = stored
        ? keepUnchangedSecrets(sealed.definition, stored, (v) => this.tryOpen(v))
        : sealed.definition;
      return { ...parsed.definition, definition };
    }
    // The document has errors; still report the table's, when its sink section is usable, so
    // one round trip lists everything. ClickHouse being away only loses those extra errors.
    const raw = decodeLoosely(input, contentType);
    const sink = rawSink(raw, parsed.errors);
    const password =
      sink?.password === REDACTED && stored ? stored.sink.clickhouse.password : sink?.password;
    const extra = sink
      ? await checkSink(
          { ...sink, password: resolveOrEmpty(password ?? '', this.config.secrets) },
          rawTransformColumns(raw),
        ).catch(() => [] as DefinitionError[])
      : [];
    throw new DefinitionInvalidError([...parsed.errors, ...extra]);
  }

  /** A stored secret as it may be given again: sealed ones opened, references as they are. */
  private openStored(value: string): string {
    if (!isSealed(value)) return value;
    try {
      return this.config.secrets.open(value);
    } catch (err) {
      const message = `the stored secret cannot be opened here (${(err as Error).message}): send it again`;
      throw new DefinitionInvalidError([{ path: 'secrets', message }]);
    }
  }

  /** For comparing secrets: a sealed value opened, undefined when it cannot be. */
  private tryOpen(value: string): string | undefined {
    try {
      return isSealed(value) ? this.config.secrets.open(value) : value;
    } catch {
      return undefined;
    }
  }

  /** The sink's secrets and certificates in this process (references read), or a 400 at a path. */
  private resolveSink(sink: ClickHouseSink): ClickHouseSink {
    try {
      return resolveSinkSecrets(sink, this.config.secrets);
    } catch (err) {
      if (!(err instanceof SecretResolutionError)) throw err;
      throw new DefinitionInvalidError([{ path: err.path, message: err.reason }]);
    }
  }
}

function resolveOrEmpty(value: string, box: SluiceConfig['secrets']): string {
  try {
    return resolveSecret(value, box);
  } catch {
    return '';
  }
}

function decodeLoosely(input: unknown, contentType: ContentType | undefined): unknown {
  if (typeof input !== 'string') return input;
  try {
    const json = contentType === 'json' || (!contentType && input.trimStart().startsWith('{'));
    return json ? (JSON.parse(input) as unknown) : (parseYaml(input) as unknown);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Errors at these paths make the sink section unusable for asking ClickHouse anything.
const SINK_CONNECTION_PATH = /^sink(\.clickhouse(\.(url|database|table|username|password))?)?$/;

function rawSink(raw: unknown, errors: readonly DefinitionError[]): SinkSpec | undefined {
  if (!isRecord(raw) || !isRecord(raw.sink) || !isRecord(raw.sink.clickhouse)) return undefined;
  if (errors.some((e) => SINK_CONNECTION_PATH.test(e.path))) return undefined;
  const ch = raw.sink.clickhouse;
  // TLS material in an invalid document is not read: the check is skipped rather than made
  // without the certificates it asks for.
  if (ch.tls !== undefined) return undefined;
  const text = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  if (typeof ch.url !== 'string' || typeof ch.table !== 'string') return undefined;
  return {
    url: ch.url,
    table: ch.table,
    database: text(ch.database, 'default'),
    username: text(ch.username, 'default'),
    password: text(ch.password, ''),
  };
}

function rawTransformColumns(raw: unknown): string[] {
  if (!isRecord(raw) || !isRecord(raw.transform) || !isRecord(raw.transform.columns)) return [];
  return Object.keys(raw.transform.columns);
}
