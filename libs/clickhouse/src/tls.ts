// TLS to an https:// ClickHouse (issue 18): the options, the agent that applies them, the check
// of the PEM material before anything connects, and the fixed words for a failed handshake.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';

/** PEM text, already resolved (no references). */
export interface ClickHouseTls {
  /** Trusted CA(s) instead of the system's. */
  readonly ca?: string;
  /** Client certificate and its key, for a server that requires one (mutual TLS). */
  readonly cert?: string;
  readonly key?: string;
  /** The name the server's certificate is checked against, when the URL names an address. */
  readonly servername?: string;
}

/**
 * The client's own `tls` option is not used: with a client certificate it also sends
 * `X-ClickHouse-SSL-Certificate-Auth: on`, which makes ClickHouse authenticate the user by the
 * certificate and refuse a password. This agent presents the certificate at the TLS layer only;
 * the user is authenticated by username and password as over plain HTTP.
 */
export function httpsAgent(tls: ClickHouseTls, maxSockets: number): HttpsAgent {
  return new HttpsAgent({
    keepAlive: true,
    maxSockets,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  });
}

export interface TlsProblem {
  readonly field: 'ca' | 'cert' | 'key' | 'servername';
  readonly message: string;
}

/** What is wrong with the PEM material; messages never quote it (the key is a secret). */
export function tlsProblems(tls: ClickHouseTls): TlsProblem[] {
  const problems: TlsProblem[] = [];
  if (tls.ca !== undefined) {
    try {
      new X509Certificate(tls.ca);
    } catch {
      problems.push({ field: 'ca', message: 'is not a PEM certificate' });
    }
  }
  let cert: X509Certificate | undefined;
  if (tls.cert !== undefined) {
    try {
      cert = new X509Certificate(tls.cert);
    } catch {
      problems.push({ field: 'cert', message: 'is not a PEM certificate' });
    }
  }
  if (tls.key !== undefined) {
    try {
      const key = createPrivateKey(tls.key);
      if (cert && !cert.checkPrivateKey(key)) {
        problems.push({ field: 'key', message: 'is not the key of tls.cert' });
      }
    } catch {
      problems.push({ field: 'key', message: 'is not a PEM private key (unencrypted)' });
    }
  }
  return problems;
}

// Node's codes for a handshake that failed, by what the operator should look at.
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * A fixed description of a TLS failure with the definition field to look at, or undefined when
 * `err` is not one. Never the error's own text: it can carry what the server sent.
 */
export function tlsFailure(err: unknown): TlsProblem | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  if (UNTRUSTED.has(code)) {
    return { field: 'ca', message: "TLS: the server's certificate is not signed by a trusted CA" };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      field: 'servername',
      message: "TLS: the server's certificate does not name this host",
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return { field: 'ca', message: "TLS: the server's certificate is not valid now" };
  }
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    return { field: 'cert', message: 'TLS: the server requires a client certificate' };
  }
  if (/^ERR_SSL_.*ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)/.test(code)) {
    return { field: 'cert', message: 'TLS: the server refused the client certificate' };
  }
  if (/^ERR_SSL_|^ERR_TLS_/.test(code)) return { field: 'ca', message: 'TLS handshake failed' };
  return undefined;
}
