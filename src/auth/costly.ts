import {
  type ExecutionContext,
  HttpStatus,
  Injectable,
  UseGuards,
  applyDecorators,
} from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { ERROR_REF } from './error-schema';
import { accessError } from './http-error';

/** The throttler of the costly routes (see `Costly`); its limit is API_RATE_LIMIT per minute. */
export const COSTLY_THROTTLER = 'costly';
export const COSTLY_WINDOW_MS = 60_000;

/** ThrottlerGuard answering with the API's usual error body. */
@Injectable()
export class CostlyRateGuard extends ThrottlerGuard {
  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    throw accessError(
      HttpStatus.TOO_MANY_REQUESTS,
      `at most ${detail.limit} such requests a minute per client (API_RATE_LIMIT); ` +
        `retry in ${Math.max(1, Math.ceil(detail.timeToBlockExpire || detail.timeToExpire))} s`,
    );
  }
}

/**
 * Rate-limits a route that costs far more than a request (a ClickHouse connection, a scan of the
 * dead letters or the event index), per client address: one client must not be able to stall the
 * Redis or the event loop the pipelines share.
 */
export const Costly = () =>
  applyDecorators(
    UseGuards(CostlyRateGuard),
    ApiResponse({ status: 429, description: 'over API_RATE_LIMIT a minute', schema: ERROR_REF }),
  );
