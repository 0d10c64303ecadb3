import { TypeParseError } from './errors';

/** A ClickHouse column type as a tree, as far as Sluice needs to fill it. */
export type ChType =
  | { readonly kind: 'String' }
  | { readonly kind: 'FixedString'; readonly length: number }
  | { readonly kind: 'Int'; readonly bits: IntBits; readonly signed: boolean }
  | { readonly kind: 'Float'; readonly bits: 32 | 64 }
  | { readonly kind: 'Decimal'; readonly precision: number; readonly scale: number }
  | { readonly kind: 'Bool' }
  | { readonly kind: 'UUID' }
  | { readonly kind: 'Date' }
  | { readonly kind: 'Date32' }
  | { readonly kind: 'DateTime'; readonly timezone: string | undefined }
  | {
      readonly kind: 'DateTime64';
      readonly precision: number;
      readonly timezone: string | undefined;
    }
  | { readonly kind: 'Enum'; readonly bits: 8 | 16; readonly values: ReadonlyMap<string, number> }
  | { readonly kind: 'IPv4' }
  | { readonly kind: 'IPv6' }
  | { readonly kind: 'JSON' }
  | { readonly kind: 'Nullable'; readonly inner: ChType }
  | { readonly kind: 'LowCardinality'; readonly inner: ChType }
  | { readonly kind: 'Array'; readonly element: ChType }
  | { readonly kind: 'Map'; readonly key: ChType; readonly value: ChType }
  | {
      readonly kind: 'Tuple';
      readonly elements: readonly ChType[];
      readonly names: readonly string[] | undefined;
    };

export type IntBits = 8 | 16 | 32 | 64 | 128 | 256;

/** True when the column accepts NULL (Nullable(T) or LowCardinality(Nullable(T))). */
export function isNullable(type: ChType): boolean {
  if (type.kind === 'Nullable') return true;
  return type.kind === 'LowCardinality' && type.inner.kind === 'Nullable';
}

/** Parses a type string as `DESCRIBE TABLE` or `system.columns` print it. */
export function parseType(typeString: string): ChType {
  const parser = new Parser(typeString);
  const type = parser.type();
  parser.end();
  return type;
}

type Token =
  | { readonly t: 'ident'; readonly v: string }
  | { readonly t: 'num'; readonly v: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: '(' | ')' | ',' | '=' };

/** An argument inside parentheses: a nested type, a number, a string, or an enum `'a' = 1`. */
type Arg =
  | { readonly a: 'type'; readonly type: ChType; readonly name?: string }
  | { readonly a: 'num'; readonly v: number }
  | { readonly a: 'str'; readonly v: string }
  | { readonly a: 'enum'; readonly name: string; readonly v: number };

const SIMPLE: Readonly<Record<string, ChType>> = {
  String: { kind: 'String' },
  Bool: { kind: 'Bool' },
  UUID: { kind: 'UUID' },
  Date: { kind: 'Date' },
  Date32: { kind: 'Date32' },
  IPv4: { kind: 'IPv4' },
  IPv6: { kind: 'IPv6' },
  JSON: { kind: 'JSON' },
  Float32: { kind: 'Float', bits: 32 },
  Float64: { kind: 'Float', bits: 64 },
  // BFloat16 values arrive as JS numbers just like Float32; ClickHouse rounds them.
  BFloat16: { kind: 'Float', bits: 32 },
};

const INT_RE = /^(U?)Int(8|16|32|64|128|256)$/;
const DECIMAL_BITS: Readonly<Record<string, number>> = {
  Decimal32: 9,
  Decimal64: 18,
  Decimal128: 38,
  Decimal256: 76,
};

class Parser {
  private readonly tokens: Token[];
  private pos = 0;

  constructor(private readonly source: string) {
    this.tokens = tokenize(source, (reason) => this.fail(reason));
  }

  end(): void {
    if (this.pos !== this.tokens.length) this.fail('unexpected text after the type');
  }

  type(): ChType {
    const head = this.next();
    if (head?.t !== 'ident') return this.fail('expected a type name');
    if (head.v === 'SimpleAggregateFunction') return this.simpleAggregate();
    const args = this.peek()?.t === '(' ? this.args() : undefined;
    return this.build(head.v, args);
  }

  private build(name: string, args: Arg[] | undefined): ChType {
    const simple = SIMPLE[name];
    if (simple !== undefined) {
      if (args !== undefined) this.fail(`${name} takes no arguments`);
      return simple;
    }
    const int = INT_RE.exec(name);
    if (int !== null) {
      if (args !== undefined) this.fail(`${name} takes no arguments`);
      return { kind: 'Int', bits: Number(int[2]) as IntBits, signed: int[1] === '' };
    }
    switch (name) {
      case 'FixedString':
        return { kind: 'FixedString', length: this.numArg(args, 0, name) };
      case 'Decimal': {
        const precision = this.numArg(args, 0, name);
        const scale = args !== undefined && args.length > 1 ? this.numArg(args, 1, name) : 0;
        return this.decimal(precision, scale);
      }
      case 'Decimal32':
      case 'Decimal64':
      case 'Decimal128':
      case 'Decimal256':
        return this.decimal(DECIMAL_BITS[name] ?? 0, this.numArg(args, 0, name));
      case 'DateTime':
        return {
          kind: 'DateTime',
          timezone: args === undefined ? undefined : this.strArg(args, 0),
        };
      case 'DateTime64': {
        const precision = this.numArg(args, 0, name);
        if (precision > 9) this.fail('DateTime64 precision must be 0 to 9');
        const timezone = args !== undefined && args.length > 1 ? this.strArg(args, 1) : undefined;
        return { kind: 'DateTime64', precision, timezone };
      }
      case 'Enum8':
      case 'Enum16':
        return this.enumType(name === 'Enum8' ? 8 : 16, args);
      case 'Nullable':
        return { kind: 'Nullable', inner: this.typeArg(args, 0, name) };
      case 'LowCardinality':
        return { kind: 'LowCardinality', inner: this.typeArg(args, 0, name) };
      case 'Array':
        return { kind: 'Array', element: this.typeArg(args, 0, name) };
      case 'Map':
        return {
          kind: 'Map',
          key: this.typeArg(args, 0, name),
          value: this.typeArg(args, 1, name),
        };
      case 'Tuple':
        return this.tuple(args);
      default:
        return this.fail(`type ${name} is not supported`);
    }
  }

  /** SimpleAggregateFunction(fn, T) is inserted as a plain T; `fn` may carry parameters. */
  private simpleAggregate(): ChType {
    this.expect('(');
    let depth = 0;
    for (let tok = this.next(); ; tok = this.next()) {
      if (tok === undefined) return this.fail('unterminated SimpleAggregateFunction');
      if (tok.t === '(') depth++;
      else if (tok.t === ')') depth--;
      else if (tok.t === ',' && depth === 0) break;
    }
    const inner = this.type();
    if (this.next()?.t !== ')') this.fail("expected ')'");
    return inner;
  }

  private decimal(precision: number, scale: number): ChType {
    if (precision < 1 || precision > 76) this.fail('Decimal precision must be 1 to 76');
    if (scale > precision) this.fail('Decimal scale exceeds its precision');
    return { kind: 'Decimal', precision, scale };
  }

  private enumType(bits: 8 | 16, args: Arg[] | undefined): ChType {
    const values = new Map<string, number>();
    for (const arg of args ?? []) {
      if (arg.a !== 'enum') return this.fail("enum elements must look like 'name' = value");
      values.set(arg.name, arg.v);
    }
    if (values.size === 0) this.fail('enum without elements');
    return { kind: 'Enum', bits, values };
  }

  private tuple(args: Arg[] | undefined): ChType {
    if (args === undefined || args.length === 0) return this.fail('Tuple needs elements');
    const elements: ChType[] = [];
    const names: string[] = [];
    for (const arg of args) {
      if (arg.a !== 'type') return this.fail('Tuple elements must be types');
      elements.push(arg.type);
      if (arg.name !== undefined) names.push(arg.name);
    }
    if (names.length !== 0 && names.length !== elements.length) {
      this.fail('Tuple mixes named and unnamed elements');
    }
    return { kind: 'Tuple', elements, names: names.length === 0 ? undefined : names };
  }

  private args(): Arg[] {
    this.expect('(');
    const args: Arg[] = [];
    if (this.peek()?.t === ')') {
      this.pos++;
      return args;
    }
    for (;;) {
      args.push(this.arg());
      const sep = this.next();
      if (sep?.t === ')') return args;
      if (sep?.t !== ',') this.fail("expected ',' or ')'");
    }
  }

  private arg(): Arg {
    const tok = this.peek();
    if (tok?.t === 'num') {
      this.pos++;
      return { a: 'num', v: tok.v };
    }
    if (tok?.t === 'str') {
      this.pos++;
      if (this.peek()?.t !== '=') return { a: 'str', v: tok.v };
      this.pos++;
      const value = this.next();
      if (value?.t !== 'num') return this.fail('expected a number after =');
      return { a: 'enum', name: tok.v, v: value.v };
    }
    if (tok?.t === 'ident') {
      // A named tuple element is `name Type`: two identifiers in a row.
      const after = this.tokens[this.pos + 1];
      if (after?.t === 'ident') {
        this.pos++;
        return { a: 'type', type: this.type(), name: tok.v };
      }
      return { a: 'type', type: this.type() };
    }
    return this.fail('expected a type, a number or a string');
  }

  private numArg(args: Arg[] | undefined, i: number, name: string): number {
    const arg = args?.[i];
    if (arg?.a !== 'num' || arg.v < 0) return this.fail(`${name} needs a number argument`);
    return arg.v;
  }

  private strArg(args: Arg[], i: number): string {
    const arg = args[i];
    if (arg?.a !== 'str') return this.fail('expected a quoted time zone');
    return arg.v;
  }

  private typeArg(args: Arg[] | undefined, i: number, name: string): ChType {
    const arg = args?.[i];
    if (arg?.a !== 'type') return this.fail(`${name} needs a type argument`);
    return arg.type;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private next(): Token | undefined {
    return this.tokens[this.pos++];
  }

  private expect(t: '('): void {
    if (this.next()?.t !== t) this.fail(`expected '${t}'`);
  }

  private fail(reason: string): never {
    throw new TypeParseError(this.source, reason);
  }
}

function tokenize(s: string, fail: (reason: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === ',' || c === '=') {
      tokens.push({ t: c });
      i++;
    } else if (c === "'" || c === '`') {
      const [value, endIndex] = readQuoted(s, i, fail);
      tokens.push(c === "'" ? { t: 'str', v: value } : { t: 'ident', v: value });
      i = endIndex;
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?\d+/.exec(s.slice(i));
      if (m === null) return fail(`unexpected '${c}'`);
      tokens.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
      if (m === null) return fail(`unexpected '${c}'`);
      tokens.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

/** Reads a '...' or `...` literal with backslash escapes or doubled quotes, as ClickHouse prints. */
function readQuoted(s: string, start: number, fail: (reason: string) => never): [string, number] {
  const quote = s[start];
  let out = '';
  let i = start + 1;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === '\\') {
      const escaped = s[i + 1];
      if (escaped === undefined) break;
      out += ESCAPES[escaped] ?? escaped;
      i += 2;
    } else if (c === quote) {
      if (s[i + 1] === quote) {
        out += c;
        i += 2;
      } else {
        return [out, i + 1];
      }
    } else {
      out += c;
      i++;
    }
  }
  return fail('unterminated quoted text');
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '0': '\0' };
