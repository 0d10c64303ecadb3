import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, type NestMiddleware } from '@nestjs/common';
import { YAML_TYPES, mediaType } from '../auth/media-types';

const MAX_BYTES = 1024 * 1024;

/**
 * Nest parses JSON bodies only; a YAML definition arrives here as text and is handed on as a
 * string in `req.body`, which the controller then parses as YAML.
 */
@Injectable()
export class YamlBodyMiddleware implements NestMiddleware {
  use(req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: () => void): void {
    if (!YAML_TYPES.includes(mediaType(req)) || req.readableEnded) return next();
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BYTES && !failed) {
        failed = true;
        res.statusCode = 413;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            statusCode: 413,
            error: 'Payload Too Large',
            message: `a definition may be at most ${MAX_BYTES} bytes`,
          }),
        );
        req.resume();
      } else if (!failed) chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      req.body = Buffer.concat(chunks).toString('utf8');
      next();
    });
    req.on('error', () => {
      if (!failed) res.destroy();
    });
  }
}
