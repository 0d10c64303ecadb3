import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { PIPELINE_ID_RE } from '@sluice/pipeline';
import { PipelineStore } from '../pipelines';
import { Access } from '../auth';
import { ERROR_REF } from '../auth/error-schema';
import { dlqSelectorInput, responseSchema } from './api-schemas';
import { DlqReplay } from './dlq-replay';
import { parseDlqSelector } from './dlq-selection';
import { httpError } from './errors';

/** POST /pipelines/:id/dlq/replay (README "DLQ replay"). */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class DlqReplayController {
  constructor(
    private readonly store: PipelineStore,
    private readonly dlq: DlqReplay,
  ) {}

  @Post(':id/dlq/replay')
  @HttpCode(HttpStatus.OK)
  @Access('operate')
  @ApiOperation({
    summary: 'Replay dead letters through the current definition: all, by id, or by stage and time',
    description:
      'Selects as discard does. {} and filters replay only the dead letters present when the ' +
      'request started: one that arrives later, or a replayed entry that fails again (a new id), ' +
      'stays in the DLQ for a later request.',
  })
  @ApiBody({ schema: dlqSelectorInput() })
  @ApiResponse({
    status: 200,
    description:
      'how many left the DLQ for their partition actor (each is written once, or returns with its new reason)',
    schema: responseSchema('replayed'),
  })
  @ApiResponse({ status: 400, description: 'not a selector', schema: ERROR_REF })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  async replay(@Param('id') id: string, @Body() body: unknown) {
    const stored = PIPELINE_ID_RE.test(id) ? await this.store.get(id) : undefined;
    if (!stored) throw httpError(HttpStatus.NOT_FOUND, `pipeline ${id} not found`);
    const selector = parseDlqSelector(body);
    if (typeof selector === 'string') throw httpError(HttpStatus.BAD_REQUEST, selector);
    return { replayed: await this.dlq.replay(id, stored.definition.partitions, selector) };
  }
}
