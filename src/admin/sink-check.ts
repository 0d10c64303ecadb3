// The checks of a definition that need ClickHouse to answer: the target table exists, every
// transform column is in it, and a retried insert lands once (deduplication windows, views).
import { ClickHouseError } from '@clickhouse/client';
import {
  type ClickHouseTls,
  ClickHouseSchema,
  UnknownTableError,
  createClickHouseClient,
  tlsFailure,
  tlsProblems,
} from '@sluice/clickhouse';
import { checkTransformColumns, type DefinitionError } from '@sluice/pipeline';
import { SinkUnavailableError } from './errors';

export interface SinkSpec {
  url: string;
  database: string;
  table: string;
  username: string;
  password: string;
  /** Resolved PEM text (no references). */
  tls?: ClickHouseTls;
}

const CHECK_TIMEOUT_MS = 5_000;

// Server error codes that mean the credentials are wrong, not the table or the network.
const AUTH_CODES = new Set(['192', '194', '516']);
const ACCESS_DENIED = '497';
const TABLE = 'sink.clickhouse.table';

/**
 * Errors by field path; throws SinkUnavailableError when ClickHouse does not answer. A server
 * that answers with an error is the definition's problem (wrong password, no grant), a 400.
 */
export async function checkSink(
  sink: SinkSpec,
  transformColumns: readonly string[],
): Promise<DefinitionError[]> {
  // A certificate or key that cannot be loaded would only show as a failed handshake.
  const pemErrors = sink.tls ? tlsProblems(sink.tls) : [];
  if (pemErrors.length > 0) {
    return pemErrors.map((p) => ({ path: `sink.clickhouse.tls.${p.field}`, message: p.message }));
  }
  const client = createClickHouseClient({
    url: sink.url,
    username: sink.username,
    password: sink.password,
    ...(sink.tls ? { tls: sink.tls } : {}),
    requestTimeoutMs: CHECK_TIMEOUT_MS,
    maxOpenConnections: 1,
    quiet: true,
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
    // Fixed messages only: the server's answer (an error body, a page that is not ClickHouse's)
    // never goes back to the caller, so the check cannot be used to read other servers.
    if (err instanceof ClickHouseError) {
      return AUTH_CODES.has(err.code)
        ? [{ path: 'sink.clickhouse.username', message: 'ClickHouse refused the credentials' }]
        : [{ path: TABLE, message: refusal(err.code) }];
    }
    // A refused handshake is the definition's to fix (CA, client certificate), not an outage.
    const tls = tlsFailure(err);
    if (tls) return [{ path: `sink.clickhouse.tls.${tls.field}`, message: tls.message }];
    throw new SinkUnavailableError(sink.url, failureClass(err));
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** A fixed message for a ClickHouse error code (the server's own text is never repeated). */
export function refusal(code: string): string {
  if (code === ACCESS_DENIED) return 'ClickHouse refused the check: no grant on the table';
  return `ClickHouse refused the check (error code ${code})`;
}

const NETWORK_CLASSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** The kind of failure, from a fixed list, never the error's own text. */
export function failureClass(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    if (code in NETWORK_CLASSES) return NETWORK_CLASSES[code] ?? code;
    if (/CERT|SSL|TLS/i.test(code)) return 'TLS handshake failed';
  }
  const message = err instanceof Error ? err.message : '';
  if (/timeout/i.test(message)) return 'timed out';
  return 'no ClickHouse answer';
}
