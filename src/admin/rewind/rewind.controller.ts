import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { PIPELINE_ID_RE } from '@sluice/pipeline';
import { Access } from '../../auth';
import { ERROR_REF } from '../../auth/error-schema';
import { rewindInput, responseSchema } from '../api-schemas';
import { httpError } from '../errors';
import { PipelineRewind, RewindRefusedError } from './pipeline-rewind';
import { rewindBodySchema } from './rewind-body';

/** `POST /pipelines/:id/rewind` (README "Rewind"); the work is PipelineRewind's. */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class RewindController {
  constructor(private readonly rewinds: PipelineRewind) {}

  @Post(':id/rewind')
  @HttpCode(HttpStatus.OK)
  @Access('operate')
  @ApiOperation({
    summary:
      'Read every source partition again from a time, forgetting the dedup keys of what is read again',
  })
  @ApiBody({ schema: rewindInput() })
  @ApiResponse({
    status: 200,
    description: 'rewound: where each source partition reads on from',
    schema: responseSchema('rewound'),
  })
  @ApiResponse({ status: 400, description: 'not { "to": "<ISO time>" }', schema: ERROR_REF })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  @ApiResponse({
    status: 409,
    description:
      'a join pipeline, another rewind unfinished, or the pipeline not idle in time (send it again)',
    schema: ERROR_REF,
  })
  async rewind(@Param('id') id: string, @Body() body: unknown) {
    const parsed = rewindBodySchema.safeParse(body ?? {});
    if (!parsed.success) {
      throw httpError(HttpStatus.BAD_REQUEST, 'send { "to": "<ISO 8601 time with a zone>" }', [
        { path: 'to', message: 'must be an ISO 8601 time with a zone, e.g. 2026-01-31T09:00:00Z' },
      ]);
    }
    if (!PIPELINE_ID_RE.test(id)) throw httpError(HttpStatus.NOT_FOUND, `pipeline ${id} not found`);
    const to = new Date(Date.parse(parsed.data.to)).toISOString();
    try {
      return await this.rewinds.rewind(id, to);
    } catch (err) {
      if (err instanceof RewindRefusedError) throw httpError(err.status, err.message);
      throw err;
    }
  }
}
