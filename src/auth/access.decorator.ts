import { SetMetadata, applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiResponse } from '@nestjs/swagger';
import { ERROR_REF } from './error-schema';
import type { ApiRole } from './tokens';

/**
 * What a route needs: an API role, `public` (health probes, the API description: never a token),
 * or `metrics` (a token only when METRICS_TOKEN is set).
 */
export type AccessLevel = ApiRole | 'public' | 'metrics';

export const ACCESS_KEY = 'sluice:access';
/** Names of the OpenAPI security schemes (see src/admin/api-docs.ts). */
export const API_SCHEME = 'apiToken';
export const METRICS_SCHEME = 'metricsToken';

/**
 * Declares who may call a route (on a handler, or on a controller for all its handlers), and
 * documents it in the OpenAPI description: the scheme, `x-sluice-role`, the 401 and 403. Every
 * route must have one: the app refuses to start otherwise (see RouteAccessCheck), so a new route
 * can never be served open by mistake.
 */
export function Access(level: AccessLevel) {
  const mark = SetMetadata(ACCESS_KEY, level);
  if (level === 'public') return mark;
  if (level === 'metrics') {
    return applyDecorators(
      mark,
      ApiBearerAuth(METRICS_SCHEME),
      ApiResponse({
        status: 401,
        description: 'METRICS_TOKEN is set and not sent',
        schema: ERROR_REF,
      }),
    );
  }
  return applyDecorators(
    mark,
    ApiBearerAuth(API_SCHEME),
    ApiExtension('x-sluice-role', level),
    ApiResponse({
      status: 401,
      description: 'no token, or not one of API_TOKENS',
      schema: ERROR_REF,
    }),
    ApiResponse({
      status: 403,
      description: `the token's role is below ${level}; or, with no API_TOKENS, a client not on this machine`,
      schema: ERROR_REF,
    }),
  );
}
