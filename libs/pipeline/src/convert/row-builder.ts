import { compileConverter, type Converter, setField } from './converters';
import { ConversionError, SchemaError, TypeParseError } from './errors';
import { jsonFieldValue, jsonKeyOrder, jsonString } from './json-text';
import { type ChType, isNullable, parseType } from './types';

/** A table column as `DESCRIBE TABLE` shows it; `defaultKind` is its `default_type` field. */
export interface TableColumn {
  readonly name: string;
  readonly type: string;
  /** '' | 'DEFAULT' | 'MATERIALIZED' | 'ALIAS' | 'EPHEMERAL' */
  readonly defaultKind: string;
}

/** One JSONEachRow row: JSON-safe values only (no bigint), omitted fields get their DEFAULT. */
export type Row = Record<string, unknown>;

/**
 * What the actor needs of a row builder. The owner hands actors a builder that follows the
 * table (a new RowBuilder after each change DESCRIBE shows), so actors depend on this, not on
 * one compiled RowBuilder.
 */
export type RowMaker = Pick<RowBuilder, 'build' | 'jsonLine'>;

interface CompiledColumn {
  readonly name: string;
  readonly convert: Converter;
  readonly nullable: boolean;
  readonly hasDefault: boolean;
  /** Names such as `constructor` also resolve on Object.prototype, so need an own-key check. */
  readonly inherited: boolean;
  /** String, LowCardinality(String) and their Nullable: the converter returns a string as is. */
  readonly keepsStrings: boolean;
}

const EMPTY: readonly unknown[] = [];
/** A field `jsonLine` leaves out of the row. */
const SKIP: unique symbol = Symbol('skip');

/** A transform value that leaves its column out of the row: ClickHouse fills its DEFAULT (or the
 * type's default), whatever the column's type. The outer side of a left join uses it. */
export const OMIT_COLUMN: unique symbol = Symbol('omit column');
const NOT_WRITTEN = new Set(['MATERIALIZED', 'ALIAS']);

/**
 * Builds insert rows for one table: transform columns first, then every other writable column
 * from the same-named event field when present; absent fields are left out so ClickHouse applies
 * the column's DEFAULT. MATERIALIZED and ALIAS columns are never written. Compile once per
 * pipeline; `build` runs per event.
 */
export class RowBuilder {
  /** `jsonLine`'s converted values: transforms, then fromEvent (reused, one row at a time). */
  private readonly scratch: unknown[];
  /** Indexes into `scratch` in the order JSON.stringify would write the row's keys. */
  private readonly order: readonly number[];
  /** Per scratch index: `{"name":` for the row's first field, `,"name":` for the others. */
  private readonly opens: readonly string[];
  private readonly commas: readonly string[];
  /** Column names in `scratch` order. */
  private readonly names: readonly string[];

  private constructor(
    private readonly transforms: readonly CompiledColumn[],
    private readonly fromEvent: readonly CompiledColumn[],
    /** Columns whose type Sluice cannot fill: an event carrying them is dead-lettered. */
    readonly unsupportedColumns: readonly SchemaError[],
  ) {
    const names = [...transforms, ...fromEvent].map((c) => c.name);
    this.names = names;
    this.scratch = new Array<unknown>(names.length).fill(SKIP);
    this.order = jsonKeyOrder(names);
    this.opens = names.map((name) => `{${jsonString(name)}:`);
    this.commas = names.map((name) => `,${jsonString(name)}:`);
  }

  /** Throws SchemaError when a transform names a missing, computed or unsupported column. */
  static compile(
    columns: readonly TableColumn[],
    transformColumns: readonly string[] = [],
  ): RowBuilder {
    const byName = new Map(columns.map((c) => [c.name, c]));
    const unsupported: SchemaError[] = [];
    const transforms = transformColumns.map((name, i) => {
      const column = byName.get(name);
      if (column === undefined) throw new SchemaError(name, 'the table has no such column');
      if (NOT_WRITTEN.has(column.defaultKind)) {
        throw new SchemaError(
          name,
          `is ${column.defaultKind}: ClickHouse computes it, it cannot be written`,
        );
      }
      if (transformColumns.indexOf(name) !== i) throw new SchemaError(name, 'is transformed twice');
      const compiled = compileColumn(column, undefined);
      if (compiled instanceof SchemaError) throw compiled;
      return compiled;
    });
    const fromEvent: CompiledColumn[] = [];
    for (const column of columns) {
      if (NOT_WRITTEN.has(column.defaultKind) || transformColumns.includes(column.name)) continue;
      const compiled = compileColumn(column, unsupported);
      if (!(compiled instanceof SchemaError)) fromEvent.push(compiled);
    }
    return new RowBuilder(transforms, fromEvent, unsupported);
  }

  /** The transform columns, in the order `build` expects their values. */
  get transformColumns(): readonly string[] {
    return this.transforms.map((c) => c.name);
  }

  /**
   * `transformValues[i]` is the result of the i-th transform column's expression. Throws
   * ConversionError (column, reason) for a value that does not fit: the event is dead-lettered.
   */
  build(
    event: Readonly<Record<string, unknown>>,
    transformValues: readonly unknown[] = EMPTY,
  ): Row {
    this.fill(event, transformValues, false);
    const row: Row = {};
    const scratch = this.scratch;
    for (let i = 0; i < scratch.length; i++) {
      const field = scratch[i];
      if (field !== SKIP) setField(row, this.names[i] as string, field);
    }
    return row;
  }

  /**
   * `JSON.stringify(build(event, transformValues)) + '\n'`, the same bytes and the same errors,
   * written field by field: no row object, no generic walk (a tenth of the owner's CPU per
   * event went to the row object and its stringify).
   */
  jsonLine(
    event: Readonly<Record<string, unknown>>,
    transformValues: readonly unknown[] = EMPTY,
  ): string {
    // Every value is converted first, in build's order, so the first failing column is the one
    // build would name; JSON.stringify's own errors (a bigint in an object) come after, as they
    // did: only objects are left as values for this second pass.
    this.fill(event, transformValues, true);
    const scratch = this.scratch;
    let text = '';
    const order = this.order;
    for (let i = 0; i < order.length; i++) {
      const k = order[i] as number;
      const field = scratch[k];
      if (field === SKIP) continue;
      const json = typeof field === 'string' ? field : jsonFieldValue(field);
      if (json === undefined) continue;
      text += (text === '' ? (this.opens[k] as string) : (this.commas[k] as string)) + json;
    }
    return text === '' ? '{}\n' : `${text}}\n`;
  }

  /**
   * The one column walk of `build` and `jsonLine`: each column's converted value into `scratch`
   * (SKIP where the row leaves it out), transforms first, in build's order. With `asText` a
   * value that is not an object is stored as its JSON text (which cannot throw), so a string
   * column's string goes straight to its text without the converter.
   */
  private fill(
    event: Readonly<Record<string, unknown>>,
    transformValues: readonly unknown[],
    asText: boolean,
  ): void {
    const scratch = this.scratch;
    const transforms = this.transforms;
    const offset = transforms.length;
    for (let i = 0; i < offset; i++) {
      scratch[i] = cell(transforms[i] as CompiledColumn, transformValues[i], asText);
    }
    const fromEvent = this.fromEvent;
    for (let i = 0; i < fromEvent.length; i++) {
      const column = fromEvent[i] as CompiledColumn;
      const value = event[column.name];
      const absent =
        value === undefined ||
        (column.inherited && !Object.prototype.hasOwnProperty.call(event, column.name));
      scratch[offset + i] = absent ? SKIP : cell(column, value, asText);
    }
  }
}

/** The column's field for `value`, or SKIP; with `asText` its JSON text unless an object. */
function cell(column: CompiledColumn, value: unknown, asText: boolean): unknown {
  if (asText && column.keepsStrings && typeof value === 'string') return jsonString(value);
  const field = fieldValue(column, value);
  if (!asText || field === SKIP || (typeof field === 'object' && field !== null)) return field;
  return jsonFieldValue(field) ?? SKIP;
}

/** What `put` would set for the column, or SKIP where it leaves the column out. */
function fieldValue(column: CompiledColumn, value: unknown): unknown {
  if (value === OMIT_COLUMN) return SKIP;
  if (value === null || value === undefined) {
    if (column.nullable) return null;
    if (!column.hasDefault) {
      throw new ConversionError(
        column.name,
        'null for a column that is not Nullable and has no DEFAULT',
      );
    }
    return SKIP;
  }
  return column.convert(value);
}

function compileColumn(
  column: TableColumn,
  unsupported: SchemaError[] | undefined,
): CompiledColumn | SchemaError {
  const base = {
    name: column.name,
    hasDefault: column.defaultKind !== '',
    inherited: column.name in Object.prototype,
  };
  try {
    const type = parseType(column.type);
    return {
      ...base,
      convert: compileConverter(type, column.name),
      nullable: isNullable(type),
      keepsStrings: keepsStrings(type),
    };
  } catch (err) {
    if (!(err instanceof TypeParseError)) throw err;
    const error = new SchemaError(column.name, err.message);
    if (unsupported === undefined) return error;
    unsupported.push(error);
    // Keep the column: an event that carries it is dead-lettered instead of failing a batch.
    const convert: Converter = () => {
      throw new ConversionError(column.name, err.message);
    };
    return { ...base, convert, nullable: false, keepsStrings: false };
  }
}

/** Types whose converter returns a string value unchanged (stringConverter, maybe Nullable). */
function keepsStrings(type: ChType): boolean {
  if (type.kind === 'Nullable' || type.kind === 'LowCardinality') return keepsStrings(type.inner);
  return type.kind === 'String';
}
