import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** PEM of the CA certificate: what a client trusts. */
  ca: string;
  /** A server certificate signed by the CA for `subjectAltName`, and its key (PEM). */
  cert: string;
  key: string;
}

/**
 * A CA of its own and a server certificate it signed, made by openssl in `dir` (EC P-256, valid
 * one day). Every call makes a new CA, so two calls give CAs that do not trust each other.
 */
export function makeTestCa(dir: string, name: string, subjectAltName: string): TestCa {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const file = (suffix: string) => `${name}-${suffix}`;
  ssl(
    ...['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt')],
    ...['-days', '1', '-subj', `/CN=${name}-ca`],
  );
  writeFileSync(join(dir, file('server.ext')), `subjectAltName=${subjectAltName}\n`);
  ssl(
    ...['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr')],
    ...['-subj', `/CN=${name}-server`],
  );
  ssl(
    ...['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key')],
    ...['-CAcreateserial', '-out', file('server.crt'), '-days', '1'],
    ...['-extfile', file('server.ext')],
  );
  const read = (suffix: string) => readFileSync(join(dir, file(suffix)), 'utf8');
  return { ca: read('ca.crt'), cert: read('server.crt'), key: read('server.key') };
}
