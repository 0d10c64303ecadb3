import {
  type ClickHouseClient,
  ClickHouseError,
  ClickHouseLogLevel,
  createClient,
} from '@clickhouse/client';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { classifyInsertError, isRetryable, refusedRowOf, suggestsSchemaChange } from './retry';

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
    [243, 'NOT_ENOUGH_SPACE', 'Cannot reserve 1.00 MiB, not enough space'],
    [218, 'TABLE_IS_DROPPED', 'Table default.t is dropped'],
    [279, 'ALL_CONNECTION_TRIES_FAILED', 'All connection tries failed'],
    [254, 'NO_ACTIVE_REPLICAS', 'No active replicas'],
    [999, 'KEEPER_EXCEPTION', 'Session expired'],
    [193, 'WRONG_PASSWORD', 'Wrong password for user default'],
    [291, 'DATABASE_ACCESS_DENIED', 'Access denied to database db'],
    [1002, 'UNKNOWN_EXCEPTION', 'std::exception'],
    [252, 'TOO_MANY_PARTS', 'Too many parts (3001) in all partitions in total'],
    [60, 'UNKNOWN_TABLE', 'Table default.t does not exist'],
    [16, 'NO_SUCH_COLUMN_IN_TABLE', 'There is no column nope in table'],
    [62, 'SYNTAX_ERROR', 'Syntax error: failed at position 1'],
    // A code this Sluice does not know (a newer server): not known to be about the rows.
    [9999, 'SOMETHING_NEW', 'A failure added after this list was written'],
  ])(
    'retries server error %d %s: the server or the operator is at fault, not the rows',
    async (code, type, message) => {
      const err = await serverError(code, type, message);
      expect(err).toBeInstanceOf(ClickHouseError);
      expect(classifyInsertError(err)).toBe('retry');
      expect(isRetryable(err)).toBe(true);
    },
  );

  it.each([
    [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', "Cannot parse input: expected '{' before: 'x'"],
    [6, 'CANNOT_PARSE_TEXT', "Cannot parse string 'abc' as UInt64"],
    [53, 'TYPE_MISMATCH', 'Type mismatch'],
    [117, 'INCORRECT_DATA', 'Cannot read array from text'],
    [469, 'VIOLATED_CONSTRAINT', 'Constraint `c` for table default.t is violated at row 2'],
    [349, 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN', 'Cannot insert NULL value into a column'],
  ])('classes server error %d %s as refused rows', async (code, type, message) => {
    const err = await serverError(code, type, message);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(classifyInsertError(err)).toBe('rows');
    expect(isRetryable(err)).toBe(false);
  });

  it('retries an HTTP error that carries no ClickHouse code (a proxy page)', async () => {
    const proxy = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(413, { 'Content-Type': 'text/html' });
        res.end('<html><body>413 Request Entity Too Large</body></html>');
      });
    });
    try {
      const err = await errorFrom(await listen(proxy));
      expect(err).not.toBeInstanceOf(ClickHouseError);
      expect(classifyInsertError(err)).toBe('retry');
    } finally {
      await closeServer(proxy);
    }
  });

  it('retries local failures too: they are not ClickHouse refusing rows', () => {
    let err: unknown;
    try {
      JSON.stringify({ a: 1n });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(classifyInsertError(err)).toBe('retry');
    expect(classifyInsertError('not an error')).toBe('retry');
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

  it('reads the row a data error names, and which codes call for a fresh DESCRIBE', () => {
    const constraint = new ClickHouseError({
      message:
        'Constraint `c` for table default.t (ce98c75b) is violated at row 2. Expression: (v < 100). ',
      code: '469',
      type: 'VIOLATED_CONSTRAINT',
    });
    expect(refusedRowOf(constraint)).toBe(2);
    const parse = new ClickHouseError({
      message:
        "Cannot parse input: expected '\"' before: 'x': (at row 3)\n: While executing ParallelParsingBlockInputFormat. ",
      code: '27',
      type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
    });
    expect(refusedRowOf(parse)).toBe(3);
    expect(refusedRowOf(new Error('no row here'))).toBeUndefined();
    const unknownField = new ClickHouseError({
      message: 'Unknown field found while parsing JSONEachRow format: gone: (at row 1)',
      code: '117',
      type: 'INCORRECT_DATA',
    });
    expect(suggestsSchemaChange(unknownField)).toBe(true);
    expect(suggestsSchemaChange(constraint)).toBe(false);
  });
});
