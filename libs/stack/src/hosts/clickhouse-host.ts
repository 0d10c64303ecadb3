/**
 * ClickHouse for the local stack: chDB's libchdb.so runs clickhouse-local's main() in this
 * detached process, with the HTTP listener on. The query script ends in a query that never
 * finishes, because the listeners close when the script ends.
 *
 * ffi-rs rather than koffi: ClickHouse checks the stack it runs on, and koffi's call fails it.
 */
import { dirname, join } from 'node:path';
import { DataType, load, open } from 'ffi-rs';
import { hostArgs, hostLog } from './args';

const args = hostArgs(process.argv.slice(2), ['stack-dir', 'path', 'port', 'port-file']);

const sqlString = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function libchdbPath(): string {
  try {
    return join(dirname(require.resolve('@chdb/lib-linux-x64-gnu/package.json')), 'libchdb.so');
  } catch {
    hostLog('@chdb/lib-linux-x64-gnu is not installed (it comes with chdb@3.4.0 on linux x64)');
    process.exit(3);
  }
}

// getServerPort reports the bound port: with --http_port=0 the kernel picked it.
const script = [
  'SYSTEM START LISTEN HTTP',
  `SELECT getServerPort('http_port') INTO OUTFILE ${sqlString(args.get('port-file') ?? '')} TRUNCATE FORMAT TSV`,
  'SELECT sleepEachRow(1) FROM system.numbers SETTINGS max_block_size = 1 FORMAT Null',
].join('; ');

const argv = [
  'clickhouse',
  `--path=${args.get('path')}`,
  '--listen_host=127.0.0.1',
  `--http_port=${args.get('port')}`,
  '--query',
  script,
];

open({ library: 'chdb', path: libchdbPath() });
hostLog(`starting ClickHouse (chDB) on 127.0.0.1:${args.get('port')}, data in ${args.get('path')}`);
// Blocks this thread for the server's lifetime; nothing else runs in this process.
const rc = load({
  library: 'chdb',
  funcName: 'chdb_query_cmdline',
  retType: DataType.I32,
  paramsType: [DataType.I32, DataType.StringArray],
  paramsValue: [argv.length, argv],
});
hostLog(`clickhouse-local returned ${rc}`);
process.exit(rc === 0 ? 0 : 1);
