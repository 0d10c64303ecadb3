// The one list of the places in a definition that name a server Sluice will connect to. A field
// that names a host (a broker, a URL: the sink, an OAuth token endpoint) is added here, so
// PIPELINE_ALLOWED_HOSTS covers it.
import type { AllowedHosts } from '../security/allowed-hosts';
import type { DefinitionError } from './issues';

export interface Destination {
  /** Field path, as in definition errors. */
  readonly path: string;
  readonly host: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `host:port` or `[v6]:port` → host; undefined when it has no port. */
function brokerHost(broker: string): string | undefined {
  const colon = broker.lastIndexOf(':');
  return colon > 0 ? broker.slice(0, colon) : undefined;
}

function urlHost(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Every host a document names, read loosely (the document may be invalid elsewhere). Values
 * that are not a host:port or a URL are skipped: the schema reports those.
 */
export function definitionDestinations(doc: unknown): Destination[] {
  const out: Destination[] = [];
  if (!isRecord(doc)) return out;
  const source = isRecord(doc.source) ? doc.source : {};
  const kafka = isRecord(source.kafka) ? source.kafka : {};
  if (Array.isArray(kafka.brokers)) {
    kafka.brokers.forEach((broker: unknown, i) => {
      const host = typeof broker === 'string' ? brokerHost(broker) : undefined;
      if (host !== undefined) out.push({ path: `source.kafka.brokers[${i}]`, host });
    });
  }
  const sasl = isRecord(kafka.sasl) ? kafka.sasl : {};
  const tokenHost =
    typeof sasl.tokenEndpoint === 'string' ? urlHost(sasl.tokenEndpoint) : undefined;
  if (tokenHost !== undefined)
    out.push({ path: 'source.kafka.sasl.tokenEndpoint', host: tokenHost });
  const sink = isRecord(doc.sink) ? doc.sink : {};
  const clickhouse = isRecord(sink.clickhouse) ? sink.clickhouse : {};
  const host = typeof clickhouse.url === 'string' ? urlHost(clickhouse.url) : undefined;
  if (host !== undefined) out.push({ path: 'sink.clickhouse.url', host });
  return out;
}

/** An error per destination outside the allowed hosts; none when no allow-list is set. */
export function destinationErrors(
  doc: unknown,
  allowed: AllowedHosts | undefined,
): DefinitionError[] {
  if (!allowed) return [];
  return definitionDestinations(doc)
    .filter((d) => !allowed.allows(d.host))
    .map((d) => ({
      path: d.path,
      message: `host "${d.host}" is not in PIPELINE_ALLOWED_HOSTS`,
    }));
}
