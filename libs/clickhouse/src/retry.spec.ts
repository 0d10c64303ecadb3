import {
  type ClickHouseClient,
  ClickHouseError,
  ClickHouseLogLevel,
  createClient,
} from '@clickhouse/client';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { isRetryable } from './retry';

/** Whatever the real client throws for one request against `url`. */
async function errorFrom(url: string, timeoutMs = 2_000): Promise<unknown> {
  const client: ClickHouseClient = createClient({
    url,
    request_timeout: timeoutMs,
    log: { level: ClickHouseLogLevel.OFF },
  });
  try {
    await client.insert({ table: 't', values: [{ a: 1 }], format: 'JSONEachRow' });
  } catch (err) {
    return err;
  } finally {
    await client.close();
  }
  throw new Error('the request succeeded');
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server | ReturnType<typeof createTcpServer>): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Answers like ClickHouse does for a failed query (HTTP 500 and its exception text). */
async function serverError(code: number, type: string, message: string): Promise<unknown> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'X-ClickHouse-Exception-Code': String(code) });
      res.end(`Code: ${code}. DB::Exception: ${message}. (${type}) (version 26.7.2.1)\n`);
    });
  });
  try {
    return await errorFrom(await listen(server));
  } finally {
    await closeServer(server);
  }
}

describe('isRetryable', () => {
  it('retries a refused connection', async () => {
    const probe = createTcpServer();
    const url = await listen(probe);
    await closeServer(probe);
    const err = await errorFrom(url);
    expect((err as { code?: string }).code).toBe('ECONNREFUSED');
    expect(isRetryable(err)).toBe(true);
  });

  it('retries a request timeout', async () => {
    const silent = createTcpServer(() => undefined);
    try {
      const err = await errorFrom(await listen(silent), 200);
      expect((err as Error).message).toMatch(/Timeout/);
      expect(isRetryable(err)).toBe(true);
    } finally {
      silent.close();
    }
  });

  it('retries a connection dropped mid-request', async () => {
    const rude = createTcpServer((socket) => socket.destroy());
    try {
      const err = await errorFrom(await listen(rude));
      expect(isRetryable(err)).toBe(true);
    } finally {
      await closeServer(rude);
    }
  });

  it.each([
    [252, 'TOO_MANY_PARTS', 'Too many parts (3001) in all partitions in total'],
    [241, 'MEMORY_LIMIT_EXCEEDED', 'Memory limit (total) exceeded'],
    [394, 'QUERY_WAS_CANCELLED', 'Query was cancelled'],
    [242, 'TABLE_IS_READ_ONLY', 'Table is in readonly mode'],
    [60, 'UNKNOWN_TABLE', 'Table default.t does not exist'],
    [516, 'AUTHENTICATION_FAILED', 'default: Authentication failed'],
  ])('retries server error %d %s', async (code, type, message) => {
    const err = await serverError(code, type, message);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(isRetryable(err)).toBe(true);
  });

  it.each([
    [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', "Cannot parse input: expected '{' before: 'x'"],
    [6, 'CANNOT_PARSE_TEXT', "Cannot parse string 'abc' as UInt64"],
    [16, 'NO_SUCH_COLUMN_IN_TABLE', 'Unknown field found while parsing JSONEachRow format: nope'],
    [53, 'TYPE_MISMATCH', 'Type mismatch'],
    [117, 'INCORRECT_DATA', 'Cannot read array from text'],
    [62, 'SYNTAX_ERROR', 'Syntax error: failed at position 1'],
  ])('does not retry server error %d %s', async (code, type, message) => {
    const err = await serverError(code, type, message);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(isRetryable(err)).toBe(false);
  });

  it('does not retry deterministic local failures', () => {
    let err: unknown;
    try {
      JSON.stringify({ a: 1n });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(isRetryable(err)).toBe(false);
    expect(isRetryable('not an error')).toBe(false);
  });

  it('looks into AggregateError and causes', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:8123'), {
      code: 'ECONNREFUSED',
    });
    expect(isRetryable(new AggregateError([refused], 'all attempts failed'))).toBe(true);
    const parse = new ClickHouseError({
      message: 'x',
      code: '27',
      type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
    });
    expect(isRetryable(new Error('insert failed', { cause: parse }))).toBe(false);
  });
});
