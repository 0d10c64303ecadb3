import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { PIPELINE_ID_RE } from '@sluice/pipeline';
import { PipelineStore } from '../pipelines';
import { DlqDiscard } from './dlq-discard';
import { parseDlqSelector } from './dlq-selection';
import { httpError } from './errors';
import { GapAccept } from './gap-accept';
import { Access } from '../auth';
import { ERROR_REF } from '../auth/error-schema';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { dlqSelectorInput, responseSchema } from './api-schemas';

/**
 * The operator actions that release held partitions (see README "Held partitions"): discarding
 * dead letters (dlq-full) and accepting a mailbox gap (gap).
 */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class PipelineHoldsController {
  constructor(
    private readonly store: PipelineStore,
    private readonly dlq: DlqDiscard,
    private readonly gaps: GapAccept,
  ) {}

  @Post(':id/dlq/discard')
  @HttpCode(HttpStatus.OK)
  @Access('operate')
  @ApiOperation({
    summary: 'Discard dead letters: all, by id, or by stage and time',
    description:
      'Selects as replay does. {} and filters discard only the dead letters present when the ' +
      'request started; one that arrives later stays. Each partition is done in steps, each ' +
      'atomic (a partition with nothing new since the start: one step).',
  })
  @ApiBody({ schema: dlqSelectorInput() })
  @ApiResponse({
    status: 200,
    description: 'how many were removed',
    schema: responseSchema('discarded'),
  })
  @ApiResponse({ status: 400, description: 'not a selector', schema: ERROR_REF })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  async discard(@Param('id') id: string, @Body() body: unknown) {
    const partitions = await this.partitions(id);
    const selector = parseDlqSelector(body);
    if (typeof selector === 'string') throw httpError(HttpStatus.BAD_REQUEST, selector);
    return { discarded: await this.dlq.discard(id, partitions, selector) };
  }

  @Post(':id/partitions/:n/accept-gap')
  @HttpCode(HttpStatus.OK)
  @Access('operate')
  @ApiOperation({ summary: 'Give up the source offsets a gap-held partition never applied' })
  @ApiResponse({
    status: 200,
    description: 'the range given up',
    schema: responseSchema('acceptedGap'),
  })
  @ApiResponse({ status: 404, description: 'no such pipeline or partition', schema: ERROR_REF })
  @ApiResponse({
    status: 409,
    description: 'the partition is not held by a gap',
    schema: ERROR_REF,
  })
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
