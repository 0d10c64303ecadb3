import { z } from 'zod';

/** Every error answer of the API, in one shape. */
export const errorBodySchema = z
  .object({
    statusCode: z.number().int(),
    error: z.string().meta({ description: 'the HTTP reason phrase' }),
    message: z.string(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'every problem of a request, by field path' }),
  })
  .meta({ title: 'Error' });

/** The OpenAPI components name of the error body (added to the document in api-docs.ts). */
export const ERROR_SCHEMA_NAME = 'Error';
export const ERROR_REF = { $ref: `#/components/schemas/${ERROR_SCHEMA_NAME}` };
