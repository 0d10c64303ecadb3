import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tlsFailure, tlsProblems } from './tls';

describe('tlsProblems', () => {
  let dir: string;
  let cert: string;
  let key: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-tls-spec-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
      ].concat(['-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=spec']),
      { cwd: dir, stdio: 'pipe' },
    );
    cert = readFileSync(join(dir, 'c.pem'), 'utf8');
    key = readFileSync(join(dir, 'k.pem'), 'utf8');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a certificate with its own key', () => {
    expect(tlsProblems({ ca: cert, cert, key })).toEqual([]);
  });

  it('names the field that cannot be loaded or does not match, without quoting it', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----';
    const badKey = '-----BEGIN PRIVATE KEY-----\nsecret-stuff\n-----END PRIVATE KEY-----';
    const problems = tlsProblems({ ca: broken, cert: broken, key: badKey });
    expect(problems.map((p) => p.field)).toEqual(['ca', 'cert', 'key']);
    expect(JSON.stringify(problems)).not.toContain('secret-stuff');
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const otherKey = other.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(tlsProblems({ cert, key: otherKey })).toEqual([
      { field: 'key', message: 'is not the key of tls.cert' },
    ]);
  });
});

describe('tlsFailure', () => {
  const failure = (code: string) => tlsFailure(Object.assign(new Error('x'), { code }));

  it('tells an untrusted server, a missing or refused client certificate, and other failures apart', () => {
    expect(failure('SELF_SIGNED_CERT_IN_CHAIN')?.field).toBe('ca');
    expect(failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE')?.message).toMatch(
      /not signed by a trusted CA/,
    );
    expect(failure('ERR_TLS_CERT_ALTNAME_INVALID')).toEqual({
      field: 'servername',
      message: "TLS: the server's certificate does not name this host",
    });
    expect(failure('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')).toEqual({
      field: 'cert',
      message: 'TLS: the server requires a client certificate',
    });
    expect(failure('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')?.message).toMatch(/refused the client/);
    expect(failure('ERR_SSL_WRONG_VERSION_NUMBER')?.message).toBe('TLS handshake failed');
    expect(failure('ECONNREFUSED')).toBeUndefined();
    expect(tlsFailure(new Error('no code'))).toBeUndefined();
  });
});
