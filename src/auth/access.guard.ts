import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CanActivate,
  type ExecutionContext,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ACCESS_KEY, type AccessLevel } from './access.decorator';
import { accessError } from './http-error';
import { bodyTypeAllowed, mediaType } from './media-types';
import {
  type ApiRole,
  bearerToken,
  isLoopback,
  isLoopbackHost,
  matchToken,
  roleAllows,
} from './tokens';

/** Methods that change nothing: never audited. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Who made a request, as the audit log names it (never the token itself). */
interface Caller {
  name: string;
  role: ApiRole | undefined;
}

/**
 * The one gate of every route: checks the route's declared access (see `@Access`) against the
 * request's Bearer token, or, with no API_TOKENS, against the client address. A route with no
 * declaration is treated as `admin` (the start-up check refuses such routes anyway).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly logger = new Logger('Audit');

  constructor(
    private readonly reflector: Reflector,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const http = context.switchToHttp();
    const req = http.getRequest<IncomingMessage & { originalUrl?: string }>();
    const res = http.getResponse<ServerResponse>();
    const level =
      this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'admin';
    if (level === 'public') return true;
    if (level === 'metrics') return this.checkMetrics(req, res);
    const audited = !READ_METHODS.has(req.method ?? 'GET');
    let caller: Caller | undefined;
    try {
      caller = this.checkApi(req, res, level);
      if (!bodyTypeAllowed(req)) {
        throw accessError(
          HttpStatus.UNSUPPORTED_MEDIA_TYPE,
          `send application/json (or a YAML type where a definition is sent), not ${mediaType(req) || 'no content type'}`,
        );
      }
      if (audited) this.auditOnFinish(req, res, caller);
      return true;
    } catch (err) {
      // Refusals of state-changing requests are audited too: they show who tried what.
      if (audited) this.audit(req, res, caller ?? this.refusedCaller(req), 'refused');
      throw err;
    }
  }

  private checkApi(req: IncomingMessage, res: ServerResponse, needed: ApiRole): Caller {
    const { mode, tokens } = this.config.api;
    if (mode === 'off') return { name: 'anonymous', role: 'admin' };
    if (mode === 'loopback') {
      if (!isLoopback(req.socket.remoteAddress)) {
        throw accessError(
          HttpStatus.FORBIDDEN,
          'the admin API serves only clients on this machine while API_TOKENS is not set',
        );
      }
      if (!isLoopbackHost(req.headers.host)) {
        throw accessError(
          HttpStatus.FORBIDDEN,
          'without API_TOKENS the admin API answers only requests addressed to localhost or a ' +
            'loopback address (Host header), so a web page cannot reach it by DNS rebinding',
        );
      }
      return { name: 'loopback', role: 'admin' };
    }
    const presented = bearerToken(req.headers.authorization);
    const token = presented === undefined ? undefined : matchToken(tokens, presented);
    if (!token) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="sluice"');
      throw accessError(
        HttpStatus.UNAUTHORIZED,
        presented === undefined
          ? 'send Authorization: Bearer <token>'
          : 'the token is not one of API_TOKENS',
      );
    }
    if (!roleAllows(token.role, needed)) {
      throw accessError(
        HttpStatus.FORBIDDEN,
        `token ${token.name} has role ${token.role}; this request needs ${needed}`,
      );
    }
    return { name: token.name, role: token.role };
  }

  private checkMetrics(req: IncomingMessage, res: ServerResponse): boolean {
    const digest = this.config.api.metricsDigest;
    if (!digest) return true;
    const presented = bearerToken(req.headers.authorization);
    // Any API token may scrape too: a read token sees more than /metrics already.
    if (presented !== undefined && matchToken([{ digest }, ...this.config.api.tokens], presented)) {
      return true;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="sluice-metrics"');
    throw accessError(HttpStatus.UNAUTHORIZED, 'send Authorization: Bearer <METRICS_TOKEN token>');
  }

  private refusedCaller(req: IncomingMessage): Caller {
    const presented = bearerToken(req.headers.authorization);
    const token =
      presented === undefined ? undefined : matchToken(this.config.api.tokens, presented);
    if (token) return { name: token.name, role: token.role };
    return { name: presented === undefined ? '(no token)' : '(unknown token)', role: undefined };
  }

  private auditOnFinish(req: IncomingMessage, res: ServerResponse, caller: Caller): void {
    res.once('finish', () => this.audit(req, res, caller, 'done'));
  }

  private audit(
    req: IncomingMessage & { originalUrl?: string },
    res: ServerResponse,
    caller: Caller,
    outcome: 'done' | 'refused',
  ): void {
    const path = req.originalUrl ?? req.url ?? '';
    const status = outcome === 'done' ? res.statusCode : undefined;
    this.logger.log(
      {
        audit: {
          token: caller.name,
          role: caller.role,
          method: req.method,
          path,
          client: req.socket.remoteAddress,
          outcome,
          status,
        },
      },
      `audit: ${caller.name} ${req.method} ${path} ${outcome === 'done' ? `-> ${status}` : 'refused'}`,
    );
  }
}
