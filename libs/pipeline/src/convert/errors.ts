/** A ClickHouse type string that Sluice cannot parse or does not know how to fill. */
export class TypeParseError extends Error {
  override readonly name = 'TypeParseError';

  constructor(
    readonly typeString: string,
    readonly reason: string,
  ) {
    super(`cannot use type ${typeString}: ${reason}`);
  }
}

/**
 * The table and the pipeline do not fit together (unknown transform column, a column whose type
 * cannot be filled, ...). Raised while compiling, so pipeline creation can report it by column.
 */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';

  constructor(
    readonly column: string,
    readonly reason: string,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

/**
 * One event value cannot become a value of its column. The event goes to the dead-letter queue
 * with `column` and `reason`, so both are kept separate from the message.
 */
export class ConversionError extends Error {
  override readonly name = 'ConversionError';

  constructor(
    readonly column: string,
    readonly reason: string,
  ) {
    super(`column ${column}: ${reason}`);
  }

  /** The same failure seen from an enclosing Array/Map/Tuple, e.g. `[3]: not an integer`. */
  within(segment: string): ConversionError {
    return new ConversionError(this.column, `${segment}: ${this.reason}`);
  }
}
