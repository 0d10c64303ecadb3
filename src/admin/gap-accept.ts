import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { acceptGap, clearHold, readHolds, recordSourceGap, type SourceRange } from '@sluice/redis';
import { REDIS } from '../infra/tokens';

export interface GapAccepted {
  partition: number;
  /** The source offsets given up for this pipeline partition. */
  range: SourceRange;
  /** False when the same gap had been accepted already (nothing recorded again). */
  recorded: boolean;
}

/**
 * An operator's decision to go past a gap in an actor's mailbox (`gap` hold): the range is
 * recorded like a source gap (origin `accepted-gap`), the actor is told (libs/redis
 * gap-accept.ts) and moves `next` past it at its next poll. Nothing is skipped without it.
 */
@Injectable()
export class GapAccept {
  private readonly logger = new Logger(GapAccept.name);

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** Undefined when the partition is not held by a gap. */
  async accept(pipeline: string, partition: number): Promise<GapAccepted | undefined> {
    const hold = (await readHolds(this.redis, pipeline)).find(
      (h) => h.reason === 'gap' && h.partition === partition && h.range !== undefined,
    );
    const range = hold?.range;
    if (!range) return undefined;
    const outcome = await acceptGap(this.redis, pipeline, partition, range);
    const recorded = outcome === 'accepted';
    if (recorded) {
      await recordSourceGap(this.redis, pipeline, {
        topic: range.topic,
        partition: range.partition,
        expected: range.from,
        resumedAt: range.to + 1,
        skipped: range.to - range.from + 1,
        resets: 1,
        at: Date.now(),
        origin: 'accepted-gap',
        pipelinePartition: partition,
      });
      this.logger.warn(
        `pipeline ${pipeline} partition ${partition}: gap accepted, offsets ` +
          `${range.from}..${range.to} of ${range.topic}/${range.partition} given up`,
      );
    }
    // The actor clears it too when it goes on; cleared here so the status follows the decision.
    await clearHold(this.redis, pipeline, 'gap', partition);
    return { partition, range, recorded };
  }
}
