// Reading the engine's AST: which top-level variables an expression uses, and whether it is a
// plain field path that can be read without running CEL at all.

export interface AstNode {
  readonly op: string;
  readonly args: unknown;
  readonly start: number;
  readonly end: number;
}

export interface PathSegment {
  readonly name: string;
  /** Offset of the segment in the source, for error positions. */
  readonly offset: number;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

/** `a`, `a.b`, `a.b.c` as segments; undefined for anything else (calls, indexes, operators). */
export function fieldPathOf(node: AstNode): PathSegment[] | undefined {
  if (node.op === 'id' && typeof node.args === 'string') {
    return [{ name: node.args, offset: node.start }];
  }
  if (node.op === '.' && Array.isArray(node.args)) {
    const [inner, name] = node.args as unknown[];
    if (!isNode(inner) || typeof name !== 'string') return undefined;
    const head = fieldPathOf(inner);
    return head && [...head, { name, offset: node.end - name.length }];
  }
  return undefined;
}

// Macros whose first argument names a variable bound inside the call, not a variable read.
const BINDING_MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

/** Names of the top-level variables an expression reads (event fields, or left/right). */
export function rootsOf(node: AstNode): Set<string> {
  const roots = new Set<string>();
  visit(node, new Set(), roots);
  return roots;
}

function visit(value: unknown, bound: ReadonlySet<string>, roots: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) visit(item, bound, roots);
    return;
  }
  if (!isNode(value)) return;
  if (value.op === 'id') {
    if (typeof value.args === 'string' && !bound.has(value.args)) roots.add(value.args);
    return;
  }
  if (value.op === 'rcall' && Array.isArray(value.args)) {
    const [name, receiver, callArgs] = value.args as unknown[];
    const first = Array.isArray(callArgs) ? (callArgs[0] as unknown) : undefined;
    if (typeof name === 'string' && isNode(first) && first.op === 'id') {
      const variable = first.args as string;
      const isBind = name === 'bind' && isNode(receiver) && receiver.args === 'cel';
      if (isBind || BINDING_MACROS.has(name)) {
        if (!isBind) visit(receiver, bound, roots);
        const inner = new Set(bound).add(variable);
        const rest = (callArgs as unknown[]).slice(1);
        // cel.bind(v, init, body): init is read outside v's scope.
        if (isBind) visit(rest[0], bound, roots);
        visit(isBind ? rest.slice(1) : rest, inner, roots);
        return;
      }
    }
  }
  visit(value.args, bound, roots);
}
