import { connect, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';

// librdkafka's mock cluster listens in plaintext only and has no SASL (its request handlers stop
// at the consumer, producer and transaction APIs). This puts a TLS-only listener in front of each
// mock broker, so a test has a Kafka cluster that a client reaches only with TLS and the right CA.
//
// A client learns the brokers from Metadata responses, which name the mock's plaintext ports; the
// proxy rewrites those to its own TLS listeners so every connection, not only the first, is TLS.
// Metadata up to v8 (non-flexible) is understood, which covers kafkajs (v6 at most).

const METADATA = 3;

/** Reads length-prefixed Kafka frames from a byte stream. */
class FrameReader {
  private buffered = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    while (this.buffered.length >= 4) {
      const size = this.buffered.readInt32BE(0);
      if (this.buffered.length < 4 + size) break;
      frames.push(this.buffered.subarray(0, 4 + size));
      this.buffered = this.buffered.subarray(4 + size);
    }
    return frames;
  }
}

/** A Metadata response with each broker's host and port replaced by `map(port)`. */
function rewriteMetadata(
  frame: Buffer,
  version: number,
  map: (port: number) => { host: string; port: number } | undefined,
): Buffer {
  if (version >= 9) throw new Error(`Metadata v${version} (flexible) is not rewritten`);
  let at = 8; // size, correlation id
  if (version >= 3) at += 4; // throttle time
  const out: Buffer[] = [frame.subarray(4, at)];
  const count = frame.readInt32BE(at);
  out.push(frame.subarray(at, at + 4));
  at += 4;
  for (let i = 0; i < count; i += 1) {
    const nodeId = frame.subarray(at, at + 4);
    const hostLength = frame.readInt16BE(at + 4);
    const host = frame.toString('utf8', at + 6, at + 6 + hostLength);
    at += 6 + hostLength;
    const port = frame.readInt32BE(at);
    at += 4;
    const target = map(port) ?? { host, port };
    const hostBytes = Buffer.from(target.host);
    const fields = Buffer.alloc(2 + hostBytes.length + 4);
    fields.writeInt16BE(hostBytes.length, 0);
    hostBytes.copy(fields, 2);
    fields.writeInt32BE(target.port, 2 + hostBytes.length);
    out.push(nodeId, fields);
    if (version >= 1) {
      const rackLength = frame.readInt16BE(at);
      const end = at + 2 + Math.max(0, rackLength);
      out.push(frame.subarray(at, end));
      at = end;
    }
  }
  out.push(frame.subarray(at));
  const body = Buffer.concat(out);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

export class KafkaTlsProxy {
  /** TLS connections that completed a handshake, over all listeners. */
  handshakes = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly servers: Server[],
    /** The proxy's TLS address of each upstream broker, in the order given. */
    readonly brokers: string[],
  ) {}

  /** Listens on 127.0.0.1 with `cert`/`key`, one listener per upstream `host:port` broker. */
  static async start(
    upstream: string[],
    tls: { cert: string; key: string },
  ): Promise<KafkaTlsProxy> {
    const ports = new Map<number, number>(); // upstream port -> proxy port
    const servers: Server[] = [];
    const proxy = new KafkaTlsProxy(servers, []);
    for (const broker of upstream) {
      const colon = broker.lastIndexOf(':');
      const host = broker.slice(0, colon);
      const port = Number(broker.slice(colon + 1));
      const server = createServer({ cert: tls.cert, key: tls.key }, (client) =>
        proxy.relay(client, host, port, (p) => {
          const mapped = ports.get(p);
          return mapped === undefined ? undefined : { host: '127.0.0.1', port: mapped };
        }),
      );
      server.on('secureConnection', () => (proxy.handshakes += 1));
      // A client speaking plaintext to a TLS listener fails its handshake: that is the point.
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const own = (server.address() as AddressInfo).port;
      ports.set(port, own);
      servers.push(server);
      proxy.brokers.push(`127.0.0.1:${own}`);
    }
    return proxy;
  }

  private relay(
    client: TLSSocket,
    host: string,
    port: number,
    map: (port: number) => { host: string; port: number } | undefined,
  ): void {
    const upstream = connect(port, host);
    this.sockets.add(client).add(upstream);
    const metadataVersions = new Map<number, number>(); // correlation id -> version
    const requests = new FrameReader();
    const responses = new FrameReader();
    client.on('data', (chunk: Buffer) => {
      for (const frame of requests.push(chunk)) {
        if (frame.readInt16BE(4) === METADATA) {
          metadataVersions.set(frame.readInt32BE(8), frame.readInt16BE(6));
        }
        upstream.write(frame);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      for (const frame of responses.push(chunk)) {
        const correlationId = frame.readInt32BE(4);
        const version = metadataVersions.get(correlationId);
        metadataVersions.delete(correlationId);
        client.write(version === undefined ? frame : rewriteMetadata(frame, version, map));
      }
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(
      this.servers.map((server) => new Promise((resolve) => server.close(() => resolve(null)))),
    );
  }
}
