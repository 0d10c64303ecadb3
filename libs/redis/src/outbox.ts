import { pack, unpack } from 'msgpackr';
import type { DeadLetter } from './dead-letters';
import { encodeForgets, type ForgottenKey } from './dedup-forgets';
import type { BatchJob } from './queues';
import { type RowSource, RowSources } from './row-sources';

/*
 * The outbox batch: what the actor stores under `keys.outboxBatch` in its checkpoint and the
 * writer reads back to insert. Encoder and decoder live together so the two roles cannot drift.
 */

interface OutboxMeta {
  pipeline: string;
  partition: number;
  batchId: string;
  database: string;
  table: string;
  createdAt: number;
  /** W3C context of the batch span; the writer's insert span continues it. */
  traceparent?: string;
  /** (Kafka timestamp ms, rows) pairs of the rows, for the end-to-end latency histogram. */
  times?: number[];
  /** Per-row source positions and dedup keys (row-sources.ts; absent in earlier entries). */
  sourceTopics?: string[];
  sources?: Uint8Array;
  /** The definition version that made the rows (absent in earlier entries). */
  definitionVersion?: number;
}

/**
 * A flushed batch as the owner hands it over: rows already converted for JSONEachRow, either as
 * objects or already as JSONEachRow text (one row per line) and its row count.
 */
export type OutboxBatch = OutboxMeta &
  ({ rows: Record<string, unknown>[] } | { body: Uint8Array; count: number });

/**
 * What is stored under `keys.outboxBatch` (msgpackr `pack`): the rows as JSONEachRow text, one
 * row per line, so the writer sends the stored bytes as the insert body (binary, so it needs no
 * UTF-8 decoding and encoding again on the way). Packing row objects
 * instead cost an unpack and a per-row JSON encoding in the writer on every batch (profiled).
 * Entries of the earlier shape (`rows` as objects) are still read by the writer.
 */
export interface StoredOutboxBatch extends OutboxMeta {
  /** A string, or (since the owner encodes rows as they are built) the UTF-8 bytes as binary. */
  body: string | Uint8Array;
  count: number;
}

export function encodeOutboxBatch(batch: OutboxBatch): Buffer {
  if ('body' in batch) return pack(batch satisfies StoredOutboxBatch);
  const { rows, ...rest } = batch;
  let body = '';
  for (const row of rows) body += `${JSON.stringify(row)}\n`;
  const stored: StoredOutboxBatch = { ...rest, body, count: rows.length };
  return pack(stored);
}

/** An outbox entry or a job that does not have the agreed shape: a bug, never retried. */
export class MalformedBatchError extends Error {
  override readonly name = 'MalformedBatchError';
}

/** A stored batch: its rows as JSONEachRow text (the insert body) and their count. */
export interface DecodedBatch {
  batchId?: string;
  database: string;
  table: string;
  /** UTF-8 bytes as the owner stores them now, a string in entries of earlier versions. */
  body: string | Buffer;
  count: number;
  /** W3C context of the owner's batch span, when the batch was traced. */
  traceparent?: string;
  /** (Kafka timestamp ms, rows) pairs, for the end-to-end latency histogram. */
  times?: number[];
  /** Per-row source and dedup key; absent for entries stored before they were kept. */
  sources?: RowSources;
  /** The definition version that made the rows; absent for entries stored before it was kept. */
  definitionVersion?: number;
}

/** The rows of a batch as objects; only dead-lettering needs them. */
export function batchRows(batch: DecodedBatch): Record<string, unknown>[] {
  return batch.body
    .toString()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function decodeOutboxBatch(data: Buffer, job: BatchJob): DecodedBatch {
  let value: unknown;
  try {
    value = unpack(data);
  } catch (err) {
    throw new MalformedBatchError(`outbox entry ${job.batchId} is not msgpack: ${String(err)}`);
  }
  const batch = value as (Partial<StoredOutboxBatch> & { rows?: Record<string, unknown>[] }) | null;
  if (
    batch === null ||
    typeof batch !== 'object' ||
    typeof batch.database !== 'string' ||
    typeof batch.table !== 'string' ||
    !(Array.isArray(batch.rows) || (isBody(batch.body) && typeof batch.count === 'number'))
  ) {
    throw new MalformedBatchError(
      `outbox entry ${job.batchId} lacks database, table or rows (keys: ${
        batch !== null && typeof batch === 'object' ? Object.keys(batch).join(',') : typeof batch
      })`,
    );
  }
  // The entry is found by the job's coordinates; a mismatching id would mean keys were mixed up.
  if (batch.batchId !== undefined && batch.batchId !== job.batchId) {
    throw new MalformedBatchError(`outbox entry ${job.batchId} holds batch ${batch.batchId}`);
  }
  const { database, table, batchId } = batch;
  const traceparent = typeof batch.traceparent === 'string' ? batch.traceparent : undefined;
  const times = Array.isArray(batch.times) ? batch.times : undefined;
  const definitionVersion =
    typeof batch.definitionVersion === 'number' ? batch.definitionVersion : undefined;
  if (isBody(batch.body) && typeof batch.count === 'number') {
    // msgpackr hands binary out as a view of `data`: no copy of the rows.
    const body = typeof batch.body === 'string' ? batch.body : asBuffer(batch.body);
    const sources = RowSources.read(batch.sourceTopics, batch.sources);
    const { count } = batch;
    return {
      batchId,
      database,
      table,
      body,
      count,
      traceparent,
      times,
      sources,
      definitionVersion,
    };
  }
  // An entry written before the outbox held JSONEachRow text.
  const rows = batch.rows ?? [];
  const body = rows.map((row) => `${JSON.stringify(row)}\n`).join('');
  return { batchId, database, table, body, count: rows.length, traceparent, times };
}

/** The rows of a batch as their JSONEachRow lines (without the newline), in body order. */
export function batchLines(batch: DecodedBatch): string[] {
  return batch.body
    .toString()
    .split('\n')
    .filter((line) => line !== '');
}

/** Where row `i` (0-based, body order) came from and its dedup key; undefined when unknown. */
export function rowSource(batch: DecodedBatch, i: number): RowSource | undefined {
  return batch.sources?.at(i);
}

/** One row ClickHouse refused for good, with the server's message. */
export interface RefusedRow {
  /** 0-based index in the batch body. */
  row: number;
  error: string;
}

/**
 * What the writer's dead-letter script takes for refused rows: one insert-stage dead letter per
 * row (the row's line as the message, its source position and dedup key when the batch carries
 * them) and the dedup keys to forget (dedup-forgets.ts), so a re-sent copy of such an event is
 * not a duplicate.
 */
export function insertDeadLetters(
  batch: DecodedBatch,
  refused: readonly RefusedRow[],
  at: string,
): { letters: DeadLetter[]; forgets: Buffer } {
  const lines = batchLines(batch);
  const forgotten: ForgottenKey[] = [];
  const letters = refused.map(({ row, error }): DeadLetter => {
    const source = rowSource(batch, row);
    const letter: DeadLetter = {
      stage: 'insert',
      error,
      topic: source?.topic ?? '',
      partition: source?.partition ?? '',
      offset: source?.offset ?? '',
      message: lines[row] ?? '',
      at,
    };
    if (source?.key) {
      forgotten.push(source.key);
      // Recorded again when the dead letter is replayed (DEAD_LETTER_KEY_FIELD).
      letter.dedupKey = source.key;
    }
    return letter;
  });
  return { letters, forgets: encodeForgets(forgotten) };
}

function isBody(body: unknown): body is string | Uint8Array {
  return typeof body === 'string' || body instanceof Uint8Array;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
