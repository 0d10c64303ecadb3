import { parseAllowedHosts, type AllowedHosts } from './allowed-hosts';
import { destinationErrors } from '../definition/destinations';

function allowed(text: string): AllowedHosts {
  const parsed = parseAllowedHosts(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.allowed;
}

describe('parseAllowedHosts', () => {
  it('matches exact names case-insensitively, with or without a trailing dot', () => {
    const hosts = allowed('kafka-1.internal, CH.internal');
    expect(hosts.allows('kafka-1.internal')).toBe(true);
    expect(hosts.allows('KAFKA-1.internal.')).toBe(true);
    expect(hosts.allows('ch.internal')).toBe(true);
    expect(hosts.allows('kafka-2.internal')).toBe(false);
    expect(hosts.allows('evil.kafka-1.internal')).toBe(false);
  });

  it('matches *.suffix below the suffix only, not the suffix itself nor look-alikes', () => {
    const hosts = allowed('*.corp.example');
    expect(hosts.allows('a.corp.example')).toBe(true);
    expect(hosts.allows('a.b.corp.example')).toBe(true);
    expect(hosts.allows('corp.example')).toBe(false);
    expect(hosts.allows('evilcorp.example')).toBe(false);
    expect(hosts.allows('a.corp.example.evil.com')).toBe(false);
  });

  it('matches IPv4 CIDRs and addresses, IPv4-mapped IPv6 included', () => {
    const hosts = allowed('10.0.0.0/8,192.168.1.7');
    expect(hosts.allows('10.200.3.4')).toBe(true);
    expect(hosts.allows('11.0.0.1')).toBe(false);
    expect(hosts.allows('192.168.1.7')).toBe(true);
    expect(hosts.allows('192.168.1.8')).toBe(false);
    expect(hosts.allows('[::ffff:10.0.0.1]')).toBe(true);
    expect(hosts.allows('::ffff:a00:1')).toBe(true);
  });

  it('matches IPv6 CIDRs with or without URL brackets', () => {
    const hosts = allowed('fd00::/8, ::1');
    expect(hosts.allows('fd12:3456::1')).toBe(true);
    expect(hosts.allows('[FD12::1]')).toBe(true);
    expect(hosts.allows('fe80::1')).toBe(false);
    expect(hosts.allows('[::1]')).toBe(true);
  });

  it('never lets a CIDR match a name (names are not resolved) nor a name match an address', () => {
    const hosts = allowed('127.0.0.0/8');
    expect(hosts.allows('localhost')).toBe(false);
    expect(hosts.allows('2130706433')).toBe(false);
    expect(allowed('localhost').allows('127.0.0.1')).toBe(false);
  });

  it('refuses malformed patterns with the pattern named', () => {
    for (const [text, message] of [
      ['', /at least one/],
      ['10.0.0.0/33', /"10.0.0.0\/33".*0 to 32/],
      ['fd00::/129', /0 to 128/],
      ['kafka/8', /IPv4 or IPv6/],
      ['*.', /after "\*\."/],
      ['http://x', /IPv4 or IPv6/],
      ['https:', /host name/],
      ['a b', /host name/],
    ] as const) {
      const parsed = parseAllowedHosts(text);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.message).toMatch(message);
    }
  });
});

describe('destinationErrors', () => {
  const doc = (brokers: unknown[], url: unknown) => ({
    source: { kafka: { brokers } },
    sink: { clickhouse: { url } },
  });

  it('names each broker and the sink URL outside the list by field path', () => {
    const hosts = allowed('kafka.internal,[::1]');
    const errors = destinationErrors(
      doc(['kafka.internal:9092', 'evil.com:9092', '[::1]:9092'], 'http://10.0.0.5:8123/'),
      hosts,
    );
    expect(errors.map((e) => e.path)).toEqual(['source.kafka.brokers[1]', 'sink.clickhouse.url']);
    expect(errors[0]?.message).toMatch(/"evil.com" is not in PIPELINE_ALLOWED_HOSTS/);
  });

  it('checks an OAUTHBEARER token endpoint like any URL of a definition', () => {
    const withEndpoint = (tokenEndpoint: string) => ({
      source: {
        kafka: {
          brokers: ['kafka.internal:9092'],
          sasl: { mechanism: 'OAUTHBEARER', tokenEndpoint },
        },
      },
      sink: { clickhouse: { url: 'http://kafka.internal:8123' } },
    });
    const hosts = allowed('kafka.internal,idp.internal');
    expect(destinationErrors(withEndpoint('https://idp.internal/token'), hosts)).toEqual([]);
    expect(destinationErrors(withEndpoint('https://169.254.169.254/x'), hosts)).toEqual([
      {
        path: 'source.kafka.sasl.tokenEndpoint',
        message: 'host "169.254.169.254" is not in PIPELINE_ALLOWED_HOSTS',
      },
    ]);
  });

  it('reads invalid documents loosely and allows everything when no list is set', () => {
    expect(destinationErrors(doc([42, 'nohostport'], 'not a url'), allowed('x'))).toEqual([]);
    expect(destinationErrors('not an object', allowed('x'))).toEqual([]);
    expect(destinationErrors(doc(['evil.com:1'], 'http://evil.com'), undefined)).toEqual([]);
  });
});
