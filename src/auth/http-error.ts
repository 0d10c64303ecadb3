import { HttpException, HttpStatus } from '@nestjs/common';

const STATUS_TEXT: Partial<Record<HttpStatus, string>> = {
  [HttpStatus.UNAUTHORIZED]: 'Unauthorized',
  [HttpStatus.FORBIDDEN]: 'Forbidden',
  [HttpStatus.UNSUPPORTED_MEDIA_TYPE]: 'Unsupported Media Type',
  [HttpStatus.TOO_MANY_REQUESTS]: 'Too Many Requests',
};

/** The API's usual error body, `{ statusCode, error, message }`, for the access layer. */
export function accessError(status: HttpStatus, message: string): HttpException {
  return new HttpException(
    { statusCode: status, error: STATUS_TEXT[status] ?? 'Error', message },
    status,
  );
}
