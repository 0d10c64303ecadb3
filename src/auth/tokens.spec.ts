import {
  bearerToken,
  isLoopback,
  isLoopbackHost,
  matchToken,
  parseApiTokens,
  roleAllows,
  tokenDigest,
} from './tokens';

describe('API tokens', () => {
  it('orders the roles read < operate < admin', () => {
    expect(roleAllows('admin', 'operate')).toBe(true);
    expect(roleAllows('operate', 'read')).toBe(true);
    expect(roleAllows('operate', 'operate')).toBe(true);
    expect(roleAllows('read', 'operate')).toBe(false);
    expect(roleAllows('operate', 'admin')).toBe(false);
  });

  it('matches a presented token by its SHA-256, checking every entry', () => {
    const { tokens, problems } = parseApiTokens(
      `ci:read:${tokenDigest('one')},ops:admin:${tokenDigest('two')}`,
    );
    expect(problems).toEqual([]);
    expect(matchToken(tokens, 'two')?.name).toBe('ops');
    expect(matchToken(tokens, 'one')?.role).toBe('read');
    expect(matchToken(tokens, 'three')).toBeUndefined();
    // The digest itself is not the token.
    expect(matchToken(tokens, tokenDigest('one'))).toBeUndefined();
  });

  it('takes the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('knows loopback Host headers, with or without a port', () => {
    for (const host of [
      'localhost',
      'LOCALHOST:3000',
      '127.0.0.1:8080',
      '127.1.2.3',
      '[::1]:3000',
      '[::1]',
    ]) {
      expect({ host, local: isLoopbackHost(host) }).toEqual({ host, local: true });
    }
    for (const host of [
      'evil.example.com',
      'localhost.evil.com:3000',
      '10.0.0.1:3000',
      '[fe80::1]',
      '',
      undefined,
    ]) {
      expect({ host, local: isLoopbackHost(host) }).toEqual({ host, local: false });
    }
  });

  it('knows loopback addresses, IPv4-mapped ones included', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopback(address)).toBe(true);
    }
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '', undefined]) {
      expect(isLoopback(address)).toBe(false);
    }
  });
});
