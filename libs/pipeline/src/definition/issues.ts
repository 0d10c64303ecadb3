// Turning zod issues into the `{ path, message }` list the REST API returns: one entry per
// problem, paths written the way a user reads them (`source.topics[0].name`).
import type { z } from 'zod';

export interface DefinitionError {
  /** `source.topics[0].name`, `transform.columns.amount_cents`, `dedup["page-views"].key`;
   * empty for the document as a whole. */
  readonly path: string;
  readonly message: string;
}

type Segment = PropertyKey;
type Issue = z.core.$ZodIssue;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && IDENTIFIER.test(segment)) {
      out += out === '' ? segment : `.${segment}`;
    } else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

export function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  return typeof input;
}

/** Per-parse message overrides; schema-level messages still win. */
export const errorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    return issue.input === undefined
      ? 'required'
      : `expected ${issue.expected}, got ${describeInput(issue.input)}`;
  }
  if (issue.code === 'invalid_value') {
    return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return undefined;
};

export function flattenIssues(
  issues: readonly Issue[],
  prefix: readonly Segment[] = [],
): DefinitionError[] {
  const out: DefinitionError[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: formatPath([...path, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // (A discriminated union whose discriminator matched no branch has none: its message
      // says which values were expected.)
      out.push(...flattenUnion(issue.errors, path));
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

// A union's issues come per branch. Report the branch that got furthest (it matched the value's
// shape and failed deeper inside); when none did, say which shapes were expected.
function flattenUnion(
  branches: readonly (readonly Issue[])[],
  path: readonly Segment[],
): DefinitionError[] {
  let best: DefinitionError[] | undefined;
  const expected: string[] = [];
  for (const branch of branches) {
    const rootType =
      branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0;
    if (rootType && branch[0]?.code === 'invalid_type') {
      expected.push(branch[0].expected);
      continue;
    }
    const errors = flattenIssues(branch, path);
    if (!best || errors.length < best.length) best = errors;
  }
  if (best) return best;
  return [{ path: formatPath(path), message: `expected ${expected.join(' or ')}` }];
}
