import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseError } from '@clickhouse/client';
import { z } from 'zod';
import { ClickHouseSchema, createClickHouseClient, UnknownTableError } from '@sluice/clickhouse';
import {
  type CompiledPipeline,
  type Hasher,
  loadHasher,
  type Row,
  RowBuilder,
} from '@sluice/pipeline';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { routeBatch } from '../roles/consumer/batch-router';
import { EntryProcessor } from '../roles/owner/entry-processor';
import { SinkUnavailableError } from './errors';
import { failureClass, refusal } from './sink-check';

/** The request cannot be previewed as asked (body, topic, a join pipeline). */
export class PreviewError extends Error {
  override readonly name = 'PreviewError';
}

export type PreviewResult =
  | { outcome: 'written'; pipelinePartition: number; row: Row }
  | { outcome: 'filtered'; pipelinePartition: number }
  | { outcome: 'dead-lettered'; pipelinePartition: number; stage: string; error: string };

/** What POST /pipelines/:id/preview accepts (exported for the OpenAPI description). */
export const previewBodySchema = z.strictObject({
  /** The Kafka message: a JSON value, or a string taken as the message's text as it is (so a
   * malformed message can be previewed too). */
  message: z.unknown(),
  topic: z.string().min(1).max(249).optional(),
  /** The Kafka timestamp (ISO 8601); now when absent. */
  timestamp: z.iso.datetime({ offset: true }).optional(),
});

const DESCRIBE_TIMEOUT_MS = 5_000;

/**
 * POST /pipelines/:id/preview: what the pipeline would do with one event, computed by the same
 * code the roles run on it (the consumer's parse and routing, the owner's EntryProcessor with a
 * row builder compiled from the table's DESCRIBE), with nothing read from or written to the
 * pipeline's state: the dedup memory is not consulted, so a duplicate previews as written.
 */
@Injectable()
export class EventPreview {
  private hasher: Promise<Hasher> | undefined;

  constructor(@Inject(SLUICE_CONFIG) private readonly config: SluiceConfig) {}

  async preview(pipeline: CompiledPipeline, body: unknown): Promise<PreviewResult> {
    const parsed = previewBodySchema.safeParse(body ?? {});
    if (!parsed.success || parsed.data.message === undefined) {
      throw new PreviewError(
        'send { "message": <the event as JSON, or its text as a string>, "topic"?, "timestamp"? }',
      );
    }
    if (pipeline.join) throw new PreviewError('preview of join pipelines is not supported yet');
    const { message, timestamp } = parsed.data;
    const topic = parsed.data.topic ?? this.onlyTopic(pipeline);
    const source = pipeline.sources.get(topic);
    if (source === undefined) {
      throw new PreviewError(`topic ${topic} is not a source of pipeline ${pipeline.id}`);
    }
    const hasher = await (this.hasher ??= loadHasher());
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    const kafkaMessage = {
      offset: '0',
      timestamp: String(timestamp === undefined ? Date.now() : Date.parse(timestamp)),
      value: Buffer.from(text, 'utf8'),
      key: null,
    };
    // `joined` makes the router parse the message (the path that gives the actor a value).
    const target = {
      topic,
      partition: 0,
      partitions: pipeline.partitions,
      source,
      joined: true,
      maxMessageBytes: this.config.maxMessageBytes,
    };
    const [[pipelinePartition, events] = [0, []]] = routeBatch([kafkaMessage], target, hasher);
    const processor = new EntryProcessor(
      pipeline,
      await this.rowBuilder(pipeline),
      hasher,
      new Map(),
      '0-0',
    );
    const entry = { topic, partition: 0, generation: 0, from: 0, to: 0, events };
    processor.apply('0-1', entry, Date.now());
    const dead = processor.deadLetters[0];
    if (dead)
      return { outcome: 'dead-lettered', pipelinePartition, stage: dead.stage, error: dead.error };
    const row = processor.rows[0];
    if (row) return { outcome: 'written', pipelinePartition, row };
    return { outcome: 'filtered', pipelinePartition };
  }

  private onlyTopic(pipeline: CompiledPipeline): string {
    const topics = [...pipeline.sources.keys()];
    if (topics.length !== 1 || topics[0] === undefined) {
      throw new PreviewError(`name the topic: one of ${topics.join(', ')}`);
    }
    return topics[0];
  }

  /** Compiled as the owner compiles it (sink-schemas.ts), from the table as it is now. */
  private async rowBuilder(pipeline: CompiledPipeline): Promise<RowBuilder> {
    const { url, username, password, tls, database, table } = pipeline.sink;
    const client = createClickHouseClient({
      url,
      username,
      password,
      ...(tls ? { tls } : {}),
      requestTimeoutMs: DESCRIBE_TIMEOUT_MS,
      maxOpenConnections: 1,
    });
    let columns;
    try {
      columns = await new ClickHouseSchema(client).describeTable(database, table);
    } catch (err) {
      // Our own message for a missing table; fixed ones otherwise, as the sink check answers:
      // nothing the server sent goes back to the caller.
      if (err instanceof UnknownTableError) {
        throw new PreviewError(`the sink table cannot be described: ${err.message}`);
      }
      if (err instanceof ClickHouseError) {
        throw new PreviewError(`the sink table cannot be described: ${refusal(err.code)}`);
      }
      throw new SinkUnavailableError(url, failureClass(err));
    } finally {
      await client.close().catch(() => undefined);
    }
    try {
      return RowBuilder.compile(
        columns,
        pipeline.columns.map((c) => c.column),
      );
    } catch (err) {
      // A transform column the table no longer has: what the owner would log and keep going.
      throw new PreviewError(`the definition does not fit the table: ${(err as Error).message}`);
    }
  }
}
