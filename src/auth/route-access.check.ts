import { Injectable, Logger, type OnModuleInit, Inject } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ACCESS_KEY, type AccessLevel } from './access.decorator';

/** Every route handler the app serves with its declared access (undefined when none). */
export function routeAccess(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  reflector: Reflector,
): { route: string; access: AccessLevel | undefined }[] {
  const found: { route: string; access: AccessLevel | undefined }[] = [];
  for (const wrapper of discovery.getControllers()) {
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance || !wrapper.metatype) continue;
    const prototype = Object.getPrototypeOf(instance) as object;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const handler = (prototype as Record<string, unknown>)[method];
      if (typeof handler !== 'function') continue;
      if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      const access = reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_KEY, [
        handler,
        wrapper.metatype,
      ]);
      found.push({ route: `${wrapper.name}.${method}`, access });
    }
  }
  return found;
}

/**
 * Fails the start when a route declares no access, so a route added without `@Access` is never
 * served (open or not) by mistake; then says who the admin API serves.
 */
@Injectable()
export class RouteAccessCheck implements OnModuleInit {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
  ) {}

  onModuleInit(): void {
    const undeclared = routeAccess(this.discovery, this.scanner, this.reflector)
      .filter((r) => r.access === undefined)
      .map((r) => r.route);
    if (undeclared.length > 0) {
      throw new Error(
        `route(s) with no @Access declaration: ${undeclared.join(', ')}; ` +
          'declare read, operate, admin, metrics or public on each (src/auth)',
      );
    }
    this.announce();
  }

  private announce(): void {
    const { mode, tokens, metricsDigest, corsOrigins } = this.config.api;
    const metrics = metricsDigest ? 'needs METRICS_TOKEN' : 'is open';
    const cors = corsOrigins.length > 0 ? `CORS for ${corsOrigins.join(', ')}` : 'CORS off';
    if (mode === 'tokens') {
      this.logger.log(
        { apiAuth: mode, tokens: tokens.map((t) => `${t.name}:${t.role}`) },
        `admin API: Bearer tokens required (${tokens.length} in API_TOKENS); /metrics ${metrics}; ${cors}`,
      );
    } else if (mode === 'loopback') {
      this.logger.log(
        { apiAuth: mode },
        'admin API: API_TOKENS is not set, so /api/v1 serves only clients on this machine ' +
          `(loopback); set API_TOKENS to open it to the network with tokens; /metrics ${metrics}; ${cors}`,
      );
    } else {
      this.logger.warn(
        { apiAuth: mode },
        'admin API: API_AUTH=off: UNSAFE, /api/v1 serves every client with no token (anyone who ' +
          `reaches this port can create, stop and delete pipelines); /metrics ${metrics}; ${cors}`,
      );
    }
  }
}
