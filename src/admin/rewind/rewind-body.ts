import { z } from 'zod';

/** What POST /pipelines/:id/rewind accepts. */
export const rewindBodySchema = z.strictObject({
  to: z.iso.datetime({ offset: true }).meta({
    description:
      'ISO 8601 time with a zone: each source partition is read again from its first offset at or after it (Kafka timestamp)',
  }),
});
