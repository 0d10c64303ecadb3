// parsePipelineDefinition: text or object in, either a CompiledPipeline or every error by path.
import { parseDocument } from 'yaml';
import type { CompiledExpression } from '../expr';
import { type CompiledPipeline, buildCompiled } from './compiled';
import { type DefinitionError, errorMap, flattenIssues, formatPath } from './issues';
import { type SchemaContext, definitionSchema } from './schema';

export type ContentType = 'json' | 'yaml';

export type ParseDefinitionResult =
  { ok: true; definition: CompiledPipeline } | { ok: false; errors: DefinitionError[] };

/**
 * Validates a pipeline definition and compiles its expressions. A string is decoded as JSON or
 * YAML (`contentType`, else JSON when it starts with `{`, else YAML); anything else is taken as
 * the already-decoded document. All errors are listed, each with its field path.
 */
export function parsePipelineDefinition(
  input: unknown,
  contentType?: ContentType,
): ParseDefinitionResult {
  const decoded =
    typeof input === 'string' ? decode(input, contentType) : { ok: true as const, value: input };
  if (!decoded.ok) return { ok: false, errors: decoded.errors };
  const raw = withoutNullSections(decoded.value);

  const ctx: SchemaContext = {
    postJoinScope: isRecord(raw) && raw.join !== undefined ? 'join' : 'event',
    compiled: new Map<string, CompiledExpression>(),
  };
  const parsed = definitionSchema(ctx).safeParse(raw, { error: errorMap });
  const errors = parsed.success ? [] : flattenIssues(parsed.error.issues);
  errors.push(...crossChecks(raw));
  if (!parsed.success || errors.length > 0) return { ok: false, errors: unique(errors) };
  return { ok: true, definition: buildCompiled(parsed.data, ctx) };
}

type Decoded = { ok: true; value: unknown } | { ok: false; errors: DefinitionError[] };

function decode(text: string, contentType: ContentType | undefined): Decoded {
  const type = contentType ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  if (type === 'json') {
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch (err) {
      return {
        ok: false,
        errors: [{ path: '', message: `invalid JSON: ${(err as Error).message}` }],
      };
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The first line of yaml's message ends with "at line L, column C:"; the rest is a snippet.
    const errors = doc.errors.map((e) => ({
      path: '',
      message: `invalid YAML: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`,
    }));
    return { ok: false, errors };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return {
      ok: false,
      errors: [{ path: '', message: `invalid YAML: ${(err as Error).message}` }],
    };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// `"join": null` in JSON means "no join"; treat explicit nulls of optional sections as absent.
const OPTIONAL_SECTIONS = ['filter', 'dedup', 'join', 'transform'];

function withoutNullSections(raw: unknown): unknown {
  if (!isRecord(raw)) return raw;
  const copy = { ...raw };
  for (const key of OPTIONAL_SECTIONS) if (copy[key] === null) delete copy[key];
  return copy;
}

// Rules across sections. They read the raw document defensively so they still report when
// another part of the definition is invalid.
function crossChecks(raw: unknown): DefinitionError[] {
  if (!isRecord(raw)) return [];
  const errors: DefinitionError[] = [];
  const source = isRecord(raw.source) ? raw.source : {};
  const topics = Array.isArray(source.topics) ? (source.topics as unknown[]) : undefined;
  const names = new Map<string, number>();
  topics?.forEach((topic, i) => {
    if (!isRecord(topic) || typeof topic.name !== 'string') return;
    const first = names.get(topic.name);
    if (first === undefined) names.set(topic.name, i);
    else {
      errors.push({
        path: formatPath(['source', 'topics', i, 'name']),
        message: `duplicate topic "${topic.name}" (also source.topics[${first}])`,
      });
    }
  });
  const notListed = (topic: string) => `topic "${topic}" is not in source.topics`;

  const dedup = raw.dedup;
  if (topics && isRecord(dedup) && Object.values(dedup).every(isRecord)) {
    for (const topic of Object.keys(dedup)) {
      if (!names.has(topic))
        errors.push({ path: formatPath(['dedup', topic]), message: notListed(topic) });
    }
  }

  const join = isRecord(raw.join) ? raw.join : undefined;
  if (join) {
    const sides: Partial<Record<'left' | 'right', string>> = {};
    for (const side of ['left', 'right'] as const) {
      const spec = join[side];
      const topic = isRecord(spec) ? spec.topic : undefined;
      if (typeof topic !== 'string') continue;
      sides[side] = topic;
      if (topics && !names.has(topic)) {
        errors.push({ path: formatPath(['join', side, 'topic']), message: notListed(topic) });
      }
    }
    if (sides.left !== undefined && sides.left === sides.right) {
      errors.push({ path: 'join.right.topic', message: 'must differ from join.left.topic' });
    }
    if (sides.left !== undefined && sides.right !== undefined) {
      for (const [name, i] of names) {
        if (name === sides.left || name === sides.right) continue;
        errors.push({
          path: formatPath(['source', 'topics', i, 'name']),
          message: `topic "${name}" is not part of the join: a join pipeline reads exactly join.left.topic and join.right.topic`,
        });
      }
    }
  }
  return errors;
}

function unique(errors: DefinitionError[]): DefinitionError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
