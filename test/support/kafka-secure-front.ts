import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo, Server } from 'node:net';

// librdkafka's mock cluster listens in plaintext only and has no SASL (its request handlers stop
// at the consumer, producer and transaction APIs). This puts a listener in front of each mock
// broker that speaks TLS with a test CA, or requires SASL OAUTHBEARER, or both, so a test has a
// Kafka cluster a client reaches only with the right security.
//
// A client learns the brokers from Metadata responses, which name the mock's plaintext ports; the
// front rewrites those to its own listeners so every connection, not only the first, goes through
// it. With SASL, it answers SaslHandshake and SaslAuthenticate itself (adding them to the mock's
// ApiVersions answer) and closes a connection that sends anything else before authenticating,
// as a broker requiring SASL does. Non-flexible versions only, which covers kafkajs.

const METADATA = 3;
const SASL_HANDSHAKE = 17;
const API_VERSIONS = 18;
const SASL_AUTHENTICATE = 36;
const SASL_AUTHENTICATION_FAILED = 58;

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

/** A response frame: size, correlation id, body. */
function response(correlationId: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt32BE(correlationId, 4);
  return Buffer.concat([head, body]);
}

/** Where a request's body starts: after api key, version, correlation id and client id. */
function requestBody(frame: Buffer): Buffer {
  const clientIdLength = frame.readInt16BE(12);
  return frame.subarray(14 + Math.max(0, clientIdLength));
}

/** The mock's ApiVersions answer (v0-v2) with SaslHandshake and SaslAuthenticate v0-v1 added. */
function addSaslApis(frame: Buffer, version: number): Buffer {
  if (version >= 3) throw new Error(`ApiVersions v${version} (flexible) is not rewritten`);
  const errorCode = frame.subarray(8, 10);
  const count = frame.readInt32BE(10);
  const entries = frame.subarray(14, 14 + count * 6);
  const rest = frame.subarray(14 + count * 6);
  const added = Buffer.alloc(12);
  added.writeInt16BE(SASL_HANDSHAKE, 0);
  added.writeInt16BE(0, 2);
  added.writeInt16BE(1, 4);
  added.writeInt16BE(SASL_AUTHENTICATE, 6);
  added.writeInt16BE(0, 8);
  added.writeInt16BE(1, 10);
  const newCount = Buffer.alloc(4);
  newCount.writeInt32BE(count + 2, 0);
  return response(frame.readInt32BE(4), Buffer.concat([errorCode, newCount, entries, added, rest]));
}

function kafkaString(text: string): Buffer {
  const bytes = Buffer.from(text);
  const out = Buffer.alloc(2 + bytes.length);
  out.writeInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

/** SaslHandshake v0/v1 answer: no error, OAUTHBEARER the one mechanism. */
function handshakeResponse(correlationId: number, mechanism: string): Buffer {
  const body = Buffer.alloc(2 + 4);
  body.writeInt16BE(mechanism === 'OAUTHBEARER' ? 0 : 33, 0); // 33: UNSUPPORTED_SASL_MECHANISM
  body.writeInt32BE(1, 2);
  return response(correlationId, Buffer.concat([body, kafkaString('OAUTHBEARER')]));
}

/** SaslAuthenticate v0/v1 answer. */
function authenticateResponse(correlationId: number, version: number, error?: string): Buffer {
  const code = Buffer.alloc(2);
  code.writeInt16BE(error === undefined ? 0 : SASL_AUTHENTICATION_FAILED, 0);
  const message = error === undefined ? Buffer.from([0xff, 0xff]) : kafkaString(error);
  const authBytes = Buffer.alloc(4); // empty server message
  const lifetime = Buffer.alloc(version >= 1 ? 8 : 0); // 0: no re-authentication asked
  return response(correlationId, Buffer.concat([code, message, authBytes, lifetime]));
}

/** The bearer token of an OAUTHBEARER client first message (RFC 7628 3.1). */
function bearerToken(authBytes: Buffer): string | undefined {
  const fields = authBytes.toString('utf8').split(String.fromCharCode(1));
  return fields.find((f) => f.startsWith('auth=Bearer '))?.slice('auth=Bearer '.length);
}

export interface FrontOptions {
  /** Speak TLS with this server certificate. */
  tls?: { cert: string; key: string };
  /** Require SASL OAUTHBEARER; a token is accepted when this says so. */
  acceptToken?: (token: string) => boolean;
}

export class KafkaSecureFront {
  /** Connections that completed a TLS handshake, over all listeners. */
  handshakes = 0;
  /** Bearer tokens presented, accepted or not, in order. */
  readonly tokens: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly servers: Server[],
    private readonly options: FrontOptions,
    /** The front's address of each upstream broker, in the order given. */
    readonly brokers: string[],
  ) {}

  /** Listens on 127.0.0.1, one listener per upstream `host:port` broker. */
  static async start(upstream: string[], options: FrontOptions): Promise<KafkaSecureFront> {
    const ports = new Map<number, number>(); // upstream port -> front port
    const servers: Server[] = [];
    const front = new KafkaSecureFront(servers, options, []);
    const map = (p: number) => {
      const mapped = ports.get(p);
      return mapped === undefined ? undefined : { host: '127.0.0.1', port: mapped };
    };
    for (const broker of upstream) {
      const colon = broker.lastIndexOf(':');
      const host = broker.slice(0, colon);
      const port = Number(broker.slice(colon + 1));
      const onClient = (client: Socket) => front.relay(client, host, port, map);
      let server: Server;
      if (options.tls) {
        const tls = createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onClient);
        tls.on('secureConnection', () => (front.handshakes += 1));
        // A client speaking plaintext to a TLS listener fails its handshake: that is the point.
        tls.on('tlsClientError', () => undefined);
        server = tls;
      } else {
        server = createTcpServer(onClient);
      }
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const own = (server.address() as AddressInfo).port;
      ports.set(port, own);
      servers.push(server);
      front.brokers.push(`127.0.0.1:${own}`);
    }
    return front;
  }

  private relay(
    client: Socket,
    host: string,
    port: number,
    map: (port: number) => { host: string; port: number } | undefined,
  ): void {
    const upstream = connect(port, host);
    this.sockets.add(client).add(upstream);
    const accept = this.options.acceptToken;
    let authenticated = accept === undefined;
    // correlation id -> the request whose answer is rewritten, and its version
    const rewrite = new Map<number, { api: number; version: number }>();
    const requests = new FrameReader();
    const responses = new FrameReader();
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      for (const frame of requests.push(chunk)) {
        const api = frame.readInt16BE(4);
        const version = frame.readInt16BE(6);
        const correlationId = frame.readInt32BE(8);
        if (api === METADATA || (api === API_VERSIONS && !authenticated)) {
          rewrite.set(correlationId, { api, version });
        }
        if (authenticated || api === API_VERSIONS) {
          upstream.write(frame);
        } else if (api === SASL_HANDSHAKE) {
          const body = requestBody(frame);
          const mechanism = body.toString('utf8', 2, 2 + body.readInt16BE(0));
          client.write(handshakeResponse(correlationId, mechanism));
        } else if (api === SASL_AUTHENTICATE && accept) {
          const body = requestBody(frame);
          const token = bearerToken(body.subarray(4, 4 + body.readInt32BE(0))) ?? '';
          this.tokens.push(token);
          authenticated = accept(token);
          client.write(
            authenticateResponse(correlationId, version, authenticated ? undefined : 'bad token'),
          );
        } else {
          close(); // a request before authenticating
          return;
        }
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      for (const frame of responses.push(chunk)) {
        const correlationId = frame.readInt32BE(4);
        const request = rewrite.get(correlationId);
        rewrite.delete(correlationId);
        if (request?.api === METADATA) client.write(rewriteMetadata(frame, request.version, map));
        else if (request?.api === API_VERSIONS) client.write(addSaslApis(frame, request.version));
        else client.write(frame);
      }
    });
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
