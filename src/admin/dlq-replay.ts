import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { moveDeadLettersToMailbox } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { REDIS } from '../infra/tokens';
import { TELEMETRY } from '../telemetry/tokens';
import { DlqSelection, type DlqSelector } from './dlq-selection';

/**
 * POST /pipelines/:id/dlq/replay: moves the selected dead letters (dlq-selection.ts) of each
 * pipeline partition into that partition's mailbox (libs/redis dlq-replay.ts: one atomic step
 * per replay entry), so the actor runs them through the pipeline's current definition, exactly
 * once. A replay asked again, or after a crash mid-way, moves only what is still in the DLQ.
 * A replayed event that fails again comes back as a newer dead letter, past the selection's end,
 * so this request does not replay it again and always ends.
 */
@Injectable()
export class DlqReplay {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {}

  /** How many dead letters were moved, over all partitions. */
  async replay(pipeline: string, partitions: number, selector: DlqSelector): Promise<number> {
    const selection = await DlqSelection.start(this.redis, pipeline, partitions, selector);
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      let moved = 0;
      for await (const ids of selection.ids(p)) {
        moved += await moveDeadLettersToMailbox(this.redis, pipeline, p, ids);
      }
      if (moved > 0) this.telemetry.metrics.dlqReplayed.inc({ pipeline }, moved);
      total += moved;
    }
    return total;
  }
}
