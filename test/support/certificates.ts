// Test certificates made with openssl (issue 18): a CA, a server certificate it signs for the
// names given, and a client certificate it signs (for mutual TLS). EC P-256 keys, valid a day.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** The path of `ca.crt`, `server.crt`, `server.key`, `client.crt` or `client.key`. */
  readonly path: (file: string) => string;
  /** A file's PEM text. */
  readonly pem: (file: string) => string;
}

/** Writes the files into `dir`; `subjectAltName` as openssl spells it (`DNS:a,IP:127.0.0.1`). */
export function makeCertificates(dir: string, subjectAltName: string): TestCertificates {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const days = ['-days', '1'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    ...days,
    '-subj',
    '/CN=test-ca',
  );
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${subjectAltName}\n`);
  for (const [name, ext] of [
    ['server', ['-extfile', 'server.ext']],
    ['client', []],
  ] as const) {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl(
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key'],
      ...['-CAcreateserial', '-out', `${name}.crt`, ...days, ...ext],
    );
  }
  return { path: (file) => join(dir, file), pem: (file) => readFileSync(join(dir, file), 'utf8') };
}
