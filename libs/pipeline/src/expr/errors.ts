// One error class for everything an expression can go wrong with, at compile time or per event,
// so callers need a single `instanceof` to route an event to the dead-letter queue.

export type ExpressionPhase = 'compile' | 'evaluate';

/** Where in the expression source an error points; line and column are 1-based. */
export interface SourcePosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';

  constructor(
    readonly phase: ExpressionPhase,
    /** `missing_field` for absent fields, `not_bool` / `invalid_key` for wrong result shapes,
     * otherwise the engine's code (`no_such_overload`, `division_by_zero`, `unexpected_token`, ...). */
    readonly code: string,
    /** The message without position; `message` adds "line L, column C: " when known. */
    readonly summary: string,
    readonly expression: string,
    readonly position?: SourcePosition,
  ) {
    super(position ? `line ${position.line}, column ${position.column}: ${summary}` : summary);
  }
}

export function positionAt(source: string, offset: number): SourcePosition {
  const clamped = Math.max(0, Math.min(offset, source.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset: clamped, line, column: clamped - lineStart + 1 };
}
