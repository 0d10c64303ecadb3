import { SetMetadata } from '@nestjs/common';
import type { ApiRole } from './tokens';

/**
 * What a route needs: an API role, `public` (health probes, the API description: never a token),
 * or `metrics` (a token only when METRICS_TOKEN is set).
 */
export type AccessLevel = ApiRole | 'public' | 'metrics';

export const ACCESS_KEY = 'sluice:access';

/**
 * Declares who may call a route (on a handler, or on a controller for all its handlers). Every
 * route must have one: the app refuses to start otherwise (see RouteAccessCheck), so a new route
 * can never be served open by mistake.
 */
export const Access = (level: AccessLevel) => SetMetadata(ACCESS_KEY, level);
