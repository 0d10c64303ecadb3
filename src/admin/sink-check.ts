// The checks of a definition that need ClickHouse to answer: the target table exists, every
// transform column is in it, and a retried insert lands once (deduplication windows, views).
import { ClickHouseError } from '@clickhouse/client';
import { ClickHouseSchema, UnknownTableError, createClickHouseClient } from '@sluice/clickhouse';
import { checkTransformColumns, type DefinitionError } from '@sluice/pipeline';
import { SinkUnavailableError } from './errors';

export interface SinkSpec {
  url: string;
  database: string;
  table: string;
  username: string;
  password: string;
}

const CHECK_TIMEOUT_MS = 5_000;

// Server error codes that mean the credentials are wrong, not the table or the network.
const AUTH_CODES = new Set(['192', '194', '516']);
const TABLE = 'sink.clickhouse.table';

/**
 * Errors by field path; throws SinkUnavailableError when ClickHouse does not answer. A server
 * that answers with an error is the definition's problem (wrong password, no grant), a 400.
 */
export async function checkSink(
  sink: SinkSpec,
  transformColumns: readonly string[],
): Promise<DefinitionError[]> {
  const client = createClickHouseClient({
    url: sink.url,
    username: sink.username,
    password: sink.password,
    requestTimeoutMs: CHECK_TIMEOUT_MS,
    maxOpenConnections: 1,
  });
  const schema = new ClickHouseSchema(client);
  try {
    const problems = await schema.checkExactlyOnce(sink.database, sink.table);
    const errors: DefinitionError[] = problems.map((p) => ({ path: TABLE, message: p.message }));
    const columns = await schema.describeTable(sink.database, sink.table);
    const transform = { columns: Object.fromEntries(transformColumns.map((c) => [c, c])) };
    errors.push(...checkTransformColumns({ transform }, columns));
    return errors;
  } catch (err) {
    if (err instanceof UnknownTableError) return [{ path: TABLE, message: err.message }];
    if (err instanceof ClickHouseError) {
      const path = AUTH_CODES.has(err.code) ? 'sink.clickhouse.username' : TABLE;
      return [{ path, message: `ClickHouse refused: ${firstLine(err.message)}` }];
    }
    throw new SinkUnavailableError(sink.url, firstLine((err as Error).message ?? String(err)));
  } finally {
    await client.close().catch(() => undefined);
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
