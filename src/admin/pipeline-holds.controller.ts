import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { PIPELINE_ID_RE } from '@sluice/pipeline';
import { PipelineStore } from '../pipelines';
import { DlqDiscard, parseDiscardSelector } from './dlq-discard';
import { httpError } from './errors';
import { GapAccept } from './gap-accept';

/**
 * The operator actions that release held partitions (see README "Held partitions"): discarding
 * dead letters (dlq-full) and accepting a mailbox gap (gap).
 */
@Controller('api/v1/pipelines')
export class PipelineHoldsController {
  constructor(
    private readonly store: PipelineStore,
    private readonly dlq: DlqDiscard,
    private readonly gaps: GapAccept,
  ) {}

  @Post(':id/dlq/discard')
  @HttpCode(HttpStatus.OK)
  async discard(@Param('id') id: string, @Body() body: unknown) {
    const partitions = await this.partitions(id);
    const selector = parseDiscardSelector(body);
    if (typeof selector === 'string') throw httpError(HttpStatus.BAD_REQUEST, selector);
    return { discarded: await this.dlq.discard(id, partitions, selector) };
  }

  @Post(':id/partitions/:n/accept-gap')
  @HttpCode(HttpStatus.OK)
  async acceptGap(@Param('id') id: string, @Param('n') n: string) {
    const partitions = await this.partitions(id);
    const partition = Number(n);
    if (!/^\d+$/.test(n) || partition >= partitions) {
      throw httpError(HttpStatus.NOT_FOUND, `pipeline ${id} has no partition ${n}`);
    }
    const accepted = await this.gaps.accept(id, partition);
    if (!accepted) {
      throw httpError(HttpStatus.CONFLICT, `partition ${partition} of ${id} is not held by a gap`);
    }
    return { id, ...accepted };
  }

  private async partitions(id: string): Promise<number> {
    const stored = PIPELINE_ID_RE.test(id) ? await this.store.get(id) : undefined;
    if (!stored) throw httpError(HttpStatus.NOT_FOUND, `pipeline ${id} not found`);
    return stored.definition.partitions;
  }
}
