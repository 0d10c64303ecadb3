// PIPELINE_ALLOWED_HOSTS: which hosts a pipeline definition may name (Kafka brokers, sink URL).
// A pure matcher on the host as written: names are never resolved here, because an answer from
// DNS at check time says nothing about the address connected to later (DNS rebinding). So a CIDR
// matches IP literals only, and a name is allowed by an exact entry or a `*.suffix` entry.
import { BlockList, isIP } from 'node:net';

export interface AllowedHosts {
  /** The patterns as given, for messages. */
  readonly patterns: readonly string[];
  allows(host: string): boolean;
}

export type ParseAllowedHostsResult =
  { ok: true; allowed: AllowedHosts } | { ok: false; message: string };

const NAME_RE = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/;

/** Host as compared: lower case, no IPv6 brackets, no trailing dot of a fully qualified name. */
export function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/**
 * Parses a comma-separated list of exact names (`kafka-1.internal`), suffixes (`*.internal`,
 * matching any name below it, not `internal` itself), IP addresses and CIDRs (`10.0.0.0/8`,
 * `fd00::/8`).
 */
export function parseAllowedHosts(text: string): ParseAllowedHostsResult {
  const patterns = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (patterns.length === 0) return { ok: false, message: 'must list at least one host pattern' };
  const names = new Set<string>();
  const suffixes: string[] = [];
  const addresses = new BlockList();
  for (const pattern of patterns) {
    const problem = addPattern(pattern, names, suffixes, addresses);
    if (problem) return { ok: false, message: `"${pattern}": ${problem}` };
  }
  const allows = (host: string): boolean => {
    const h = normalizeHost(host);
    const family = isIP(h);
    if (family !== 0) return addresses.check(h, family === 4 ? 'ipv4' : 'ipv6');
    return names.has(h) || suffixes.some((s) => h.endsWith(s) && h.length > s.length);
  };
  return { ok: true, allowed: { patterns, allows } };
}

function addPattern(
  pattern: string,
  names: Set<string>,
  suffixes: string[],
  addresses: BlockList,
): string | undefined {
  const slash = pattern.indexOf('/');
  if (slash >= 0) {
    const address = normalizeHost(pattern.slice(0, slash));
    const bitsText = pattern.slice(slash + 1);
    const family = isIP(address);
    const maxBits = family === 4 ? 32 : 128;
    const bits = Number(bitsText);
    if (family === 0) return 'a CIDR must start with an IPv4 or IPv6 address';
    if (!/^\d{1,3}$/.test(bitsText) || bits > maxBits) {
      return `the prefix length must be a whole number from 0 to ${maxBits}`;
    }
    addresses.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
    return undefined;
  }
  const host = normalizeHost(pattern);
  const family = isIP(host);
  if (family !== 0) {
    addresses.addAddress(host, family === 4 ? 'ipv4' : 'ipv6');
    return undefined;
  }
  if (pattern.startsWith('*')) {
    const suffix = host.slice(1);
    if (!suffix.startsWith('.') || !NAME_RE.test(suffix.slice(1))) {
      return 'not a host name after "*."';
    }
    suffixes.push(suffix);
    return undefined;
  }
  if (!NAME_RE.test(host)) {
    return 'must be a host name, "*.suffix", an IP address or a CIDR';
  }
  names.add(host);
  return undefined;
}
