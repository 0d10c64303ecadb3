import { request } from 'node:http';
import { connect } from 'node:net';

/** Raw RESP, not ioredis: a probe must answer once and never retry or reconnect on its own. */
export function redisPing(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export function tcpOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolveOpen(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => done(true));
  });
}

export interface HttpReply {
  status: number;
  body: string;
}

/** A bare loopback HTTP call with a deadline; used for ClickHouse and the Kafka host. */
export function httpCall(
  port: number,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 2_000,
): Promise<HttpReply> {
  return new Promise((resolveCall, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolveCall({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function clickhousePing(port: number, timeoutMs = 2_000): Promise<boolean> {
  try {
    const reply = await httpCall(port, 'GET', '/?query=SELECT%201', undefined, timeoutMs);
    return reply.status === 200 && reply.body.trim() === '1';
  } catch {
    return false;
  }
}
