import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';
import { API_SCHEME, METRICS_SCHEME } from '../auth/access.decorator';
import { ERROR_REF, ERROR_SCHEMA_NAME, errorBodySchema } from '../auth/error-schema';
import { sluiceVersion } from '../cluster/member';

export const OPENAPI_PATH = 'api/v1/openapi.json';
export const DOCS_PATH = 'api/v1/docs';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * The OpenAPI 3 description of every route, built by @nestjs/swagger from the controllers and
 * their decorators (bodies from the zod schemas, see api-schemas.ts), plus what holds for every
 * route of a kind: the error body, and 415 on every POST (see src/auth/media-types.ts).
 */
export function apiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Sluice admin API')
    .setDescription(
      'Pipelines, their dead letters, source gaps and events; the cluster; health and metrics. ' +
        'Authorization: Bearer <token> with a token of API_TOKENS (roles read < operate < admin; ' +
        "each operation's x-sluice-role). With no API_TOKENS only clients on the Sluice host are " +
        'served, with no token. /health/* never needs a token; /metrics only when METRICS_TOKEN is set.',
    )
    .setVersion(sluiceVersion())
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'a token of API_TOKENS' },
      API_SCHEME,
    )
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        description: 'the token of METRICS_TOKEN (or an API token)',
      },
      METRICS_SCHEME,
    )
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components ??= {};
  document.components.schemas ??= {};
  document.components.schemas[ERROR_SCHEMA_NAME] = z.toJSONSchema(errorBodySchema, {
    target: 'openapi-3.0',
  }) as never;
  for (const path of Object.values(document.paths)) {
    const post = path.post;
    if (!post) continue;
    post.responses['415'] ??= {
      description: 'the body type is not application/json (or a YAML type where accepted)',
      content: { 'application/json': { schema: ERROR_REF } },
    };
  }
  return document;
}

/** Serves the description at /api/v1/openapi.json and a Swagger UI page at /api/v1/docs. */
export function serveApiDocs(app: INestApplication): OpenAPIObject {
  const document = apiDocument(app);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: OPENAPI_PATH,
    raw: ['json'],
    customSiteTitle: 'Sluice admin API',
    swaggerOptions: { persistAuthorization: false },
  });
  return document;
}

/** Every operation of a document as `METHOD /path`, for checks that all routes are described. */
export function operationsOf(document: OpenAPIObject): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
  );
}
