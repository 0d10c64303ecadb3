#!/usr/bin/env node
/*
 * `npx sluice ...`: the admin REST API from a shell (README "Command line"). SLUICE_URL (default
 * http://127.0.0.1:3000) and SLUICE_TOKEN (sent as a Bearer token). Tables for people, `-o json`
 * for scripts. As kubectl: exit 0 on success, 1 on any error, the error on stderr.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { table } from './table';

const USAGE = `usage: sluice <command> [flags]   (-o json for JSON output)
  pipelines list
  pipelines get ID
  pipelines apply -f FILE [--dry-run]     create from a JSON or YAML file, or edit in place
  pipelines delete|stop|resume ID
  dlq list ID [--stage S] [--partition N] [--since ISO] [--until ISO] [--limit N] [--cursor C]
  dlq discard ID (--all | --ids ID,... | [--stage S] [--since ISO] [--until ISO])
  dlq replay ID [--all | DLQ-ID... | --ids ID,... | [--stage S] [--since ISO] [--until ISO]]
                                           (nothing named: all)
  preview ID (-f FILE | --message JSON) [--topic T]
  rewind ID --to ISO                      read every source partition again from a time
env: SLUICE_URL (default http://127.0.0.1:3000), SLUICE_TOKEN`;

class CliError extends Error {
  constructor(
    message: string,
    /** The HTTP status of a server's refusal. */
    readonly status?: number,
  ) {
    super(message);
  }
}

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  file: { type: 'string', short: 'f' },
  'dry-run': { type: 'boolean' },
  stage: { type: 'string' },
  partition: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
  ids: { type: 'string' },
  message: { type: 'string' },
  topic: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  body?: string,
  type?: string,
  extra: Record<string, string> = {},
): Promise<Answer> {
  const base = (process.env.SLUICE_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  const headers: Record<string, string> = { ...extra };
  if (process.env.SLUICE_TOKEN) headers.authorization = `Bearer ${process.env.SLUICE_TOKEN}`;
  // Every POST states its type: the admin plane refuses a POST without one (cross-site simple posts).
  if (body !== undefined || method === 'POST') headers['content-type'] = type ?? 'application/json';
  let response: Response;
  try {
    response = await fetch(`${base}/api/v1${path}`, { method, headers, body });
  } catch (err) {
    const cause = (err as Error).cause;
    const reason = cause instanceof Error ? cause.message : (err as Error).message;
    throw new CliError(`cannot reach Sluice at ${base}: ${reason}`);
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: shown as text.
  }
  if (response.status >= 400) {
    throw new CliError(serverError(response.status, parsed), response.status);
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** "Error from server (NotFound): pipeline x not found", then one line per field error. */
function serverError(status: number, body: unknown): string {
  const b = (typeof body === 'object' && body !== null ? body : {}) as {
    error?: string;
    message?: string;
    errors?: { path: string; message: string }[];
  };
  const reason = (b.error ?? `HTTP ${status}`).replace(/\s+/g, '');
  const lines = [`Error from server (${reason}): ${b.message ?? String(body)}`];
  for (const e of b.errors ?? []) lines.push(`  ${e.path}: ${e.message}`);
  return lines.join('\n');
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new CliError(`${what} is required\n${USAGE}`);
  return value;
}

const enc = encodeURIComponent;

async function pipelines(verb: string | undefined, args: string[], flags: Flags, json: boolean) {
  switch (verb) {
    case 'list': {
      const { body } = await call('GET', '/pipelines');
      type Item = { id: string; status: string; counters: Record<string, number>; holds?: unknown };
      const items = body as Item[];
      if (json) return print(items);
      return table(
        ['ID', 'STATUS', 'CONSUMED', 'WRITTEN', 'FILTERED', 'DUPLICATES', 'DEAD-LETTERED'],
        items.map((p) => [
          p.id,
          p.status,
          ...['consumed', 'written', 'filtered', 'duplicates', 'deadLettered'].map((c) =>
            String(p.counters[c] ?? 0),
          ),
        ]),
      );
    }
    case 'get': {
      const id = need(args[0], 'ID');
      const { body } = await call('GET', `/pipelines/${enc(id)}`);
      if (json) return print(body);
      const p = body as { id: string; status: string; counters: Record<string, number> };
      const rows = [
        ['ID', p.id],
        ['STATUS', p.status],
        ...Object.entries(p.counters).map(([k, v]) => [k.toUpperCase(), String(v)]),
      ];
      return table(['FIELD', 'VALUE'], rows);
    }
    case 'apply':
      return apply(flags, json);
    case 'delete':
    case 'stop':
    case 'resume': {
      const id = need(args[0], 'ID');
      const answer =
        verb === 'delete'
          ? await call('DELETE', `/pipelines/${enc(id)}`)
          : await call('POST', `/pipelines/${enc(id)}/${verb}`, '{}');
      if (json) return print(answer.body ?? { id, deleted: true });
      const done = { delete: 'deleted', stop: 'stopped', resume: 'resumed' }[verb];
      return line(`pipeline/${id} ${done}`);
    }
    default:
      throw new CliError(`unknown: pipelines ${verb ?? ''}\n${USAGE}`);
  }
}

/** The `id` a definition file names, if it can be read (the server reports any other error). */
function idIn(text: string): string | undefined {
  try {
    const doc = parseYaml(text) as unknown;
    const id = typeof doc === 'object' && doc !== null ? (doc as { id?: unknown }).id : undefined;
    return typeof id === 'string' && id !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * As kubectl apply: creates the pipeline when it does not exist, else replaces its definition in
 * place with the ETag just read (PUT with If-Match), so an edit made meanwhile is not lost: the
 * server answers 412 and nothing is changed.
 */
async function apply(flags: Flags, json: boolean) {
  const file = need(flags.file, '-f FILE');
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  const yaml = /\.ya?ml$/i.test(file) || !text.trimStart().startsWith('{');
  const type = yaml ? 'application/yaml' : 'application/json';
  const dry = flags['dry-run'] === true;
  const query = dry ? '?dryRun=true' : '';
  const id = idIn(text);
  let etag: string | null = null;
  if (id !== undefined) {
    try {
      etag = (await call('GET', `/pipelines/${enc(id)}`)).headers.get('etag');
    } catch (err) {
      if (!(err instanceof CliError && err.status === 404)) throw err;
    }
  }
  if (id === undefined || etag === null) {
    const { body } = await call('POST', `/pipelines${query}`, text, type);
    if (json) return print(body);
    const created = (body as { id: string }).id;
    return line(dry ? `pipeline/${created} valid (dry run)` : `pipeline/${created} created`);
  }
  const { body } = await call('PUT', `/pipelines/${enc(id)}${query}`, text, type, {
    'if-match': etag,
  });
  if (json) return print(body);
  const outcome = (body as { changed?: boolean }).changed ? 'configured' : 'unchanged';
  return line(`pipeline/${id} ${outcome}${dry ? ' (dry run)' : ''}`);
}

async function dlq(verb: string | undefined, args: string[], flags: Flags, json: boolean) {
  const id = need(args[0], 'ID');
  switch (verb) {
    case 'list': {
      const query = new URLSearchParams();
      for (const name of ['stage', 'partition', 'since', 'until', 'limit', 'cursor'] as const) {
        const value = flags[name];
        if (value !== undefined) query.set(name, value);
      }
      const { body, headers } = await call('GET', `/pipelines/${enc(id)}/dlq?${query.toString()}`);
      const next = headers.get('x-next-cursor');
      type Letter = Record<string, string | number | null> & { message: string };
      const entries = body as Letter[];
      if (json) return print({ entries, next });
      table(
        ['ID', 'STAGE', 'TOPIC', 'PARTITION', 'OFFSET', 'AT', 'ERROR'],
        entries.map((d) => [
          `${d.pipelinePartition}/${d.id}`,
          String(d.stage),
          String(d.topic),
          String(d.partition ?? ''),
          String(d.offset ?? ''),
          String(d.at),
          String(d.error).slice(0, 80),
        ]),
      );
      if (next) line(`more: --cursor ${next}`);
      return;
    }
    case 'discard': {
      const selector = dlqSelector(args.slice(1), flags);
      if (selector === undefined) {
        throw new CliError('name what to discard: --all, --ids or --stage/--since/--until');
      }
      const { body } = await call(
        'POST',
        `/pipelines/${enc(id)}/dlq/discard`,
        JSON.stringify(selector),
      );
      if (json) return print(body);
      return line(`discarded ${(body as { discarded: number }).discarded}`);
    }
    case 'replay': {
      // Replay is safe to run on everything (what fails again comes back): nothing named = all.
      const selector = dlqSelector(args.slice(1), flags) ?? {};
      const { body } = await call(
        'POST',
        `/pipelines/${enc(id)}/dlq/replay`,
        JSON.stringify(selector),
      );
      if (json) return print(body);
      return line(`replayed ${(body as { replayed: number }).replayed}`);
    }
    default:
      throw new CliError(`unknown: dlq ${verb ?? ''}\n${USAGE}`);
  }
}

/** The body of discard and replay: `{}` (--all), `{ids}` (positional or --ids), a filter, or
 * undefined when nothing is named. */
function dlqSelector(positional: string[], flags: Flags): Record<string, unknown> | undefined {
  const ids = [...positional, ...(flags.ids ?? '').split(',')].filter((s) => s !== '');
  if (ids.length > 0) return { ids };
  if (flags.all) return {};
  const filter = { stage: flags.stage, since: flags.since, until: flags.until };
  return Object.values(filter).every((v) => v === undefined) ? undefined : filter;
}

async function preview(args: string[], flags: Flags, json: boolean) {
  const id = need(args[0], 'ID');
  const text = flags.file
    ? readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8')
    : need(flags.message, '-f FILE or --message JSON');
  let message: unknown = text;
  try {
    message = JSON.parse(text);
  } catch {
    // Not JSON: previewed as the message's text, which is what Kafka would carry.
  }
  const request = JSON.stringify({ message, topic: flags.topic });
  const { body } = await call('POST', `/pipelines/${enc(id)}/preview`, request);
  if (json) return print(body);
  const r = body as { outcome: string; stage?: string; error?: string; row?: unknown };
  if (r.outcome === 'written') return line(`written: ${JSON.stringify(r.row)}`);
  if (r.outcome === 'dead-lettered') return line(`dead-lettered at ${r.stage}: ${r.error}`);
  return line(r.outcome);
}

async function rewind(args: string[], flags: Flags, json: boolean) {
  const id = need(args[0], 'ID');
  const to = need(flags.to, '--to ISO');
  const { body } = await call('POST', `/pipelines/${enc(id)}/rewind`, JSON.stringify({ to }));
  if (json) return print(body);
  type Partition = { topic: string; partition: number; timeOffset: number; offset: number };
  const r = body as { to: string; status: string; forgotten: number; partitions: Partition[] };
  table(
    ['TOPIC', 'PARTITION', 'TIME-OFFSET', 'READS-FROM'],
    r.partitions.map((p) => [p.topic, String(p.partition), String(p.timeOffset), String(p.offset)]),
  );
  return line(
    `pipeline/${id} rewound to ${r.to} (${r.forgotten} dedup keys forgotten), ${r.status}`,
  );
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(argv: string[]): Promise<number> {
  try {
    const { values: flags, positionals } = parse(argv);
    if (flags.help || positionals.length === 0) {
      line(USAGE);
      return flags.help ? 0 : 1;
    }
    if (flags.output !== undefined && flags.output !== 'json') {
      throw new CliError(`unknown output format ${flags.output} (only json)`);
    }
    const json = flags.output === 'json';
    const [group, verb, ...rest] = positionals;
    if (group === 'pipelines' || group === 'pipeline') await pipelines(verb, rest, flags, json);
    else if (group === 'dlq') await dlq(verb, rest, flags, json);
    else if (group === 'preview') await preview(positionals.slice(1), flags, json);
    else if (group === 'rewind') await rewind(positionals.slice(1), flags, json);
    else throw new CliError(`unknown command ${group}\n${USAGE}`);
    return 0;
  } catch (err) {
    const text = err instanceof CliError ? err.message : `error: ${(err as Error).message}`;
    process.stderr.write(`${text}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
