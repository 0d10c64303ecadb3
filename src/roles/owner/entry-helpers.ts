import {
  ConversionError,
  type CompiledPipeline,
  ExpressionError,
  type MailboxEvent,
} from '@sluice/pipeline';

// Small helpers of the entry processor's per-event path.

const NO_VALUES: readonly unknown[] = [];

/** Where a refused event was: built only for a dead letter, never on the accepted path. */
export interface DeadAt {
  topic: string;
  partition: number;
  event: MailboxEvent;
  now: number;
  keyHash?: bigint;
}

/** The transform columns' values, in order (a shared empty list without transforms). */
export function transformValues(
  pipeline: CompiledPipeline,
  names: readonly string[],
  input: Readonly<Record<string, unknown>>,
): readonly unknown[] {
  const columns = pipeline.columns;
  if (columns.length === 0) return NO_VALUES;
  const values = new Array<unknown>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i] as (typeof columns)[number];
    try {
      values[i] = c.expression.evaluate(input);
    } catch (err) {
      throw new ConversionError(names[i] ?? c.column, errorText(err));
    }
  }
  return values;
}

export function errorText(err: unknown): string {
  if (err instanceof ExpressionError || err instanceof ConversionError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
