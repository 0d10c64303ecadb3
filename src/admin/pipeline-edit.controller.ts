import type { IncomingMessage, ServerResponse } from 'node:http';
import { Body, Controller, Headers, HttpStatus, Param, Put, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { redactDefinition } from '@sluice/pipeline';
import { Access, Costly } from '../auth';
import { ERROR_REF } from '../auth/error-schema';
import { definitionFormat, parseFlag } from './definition-request';
import { definitionInput, responseSchema } from './api-schemas';
import { DefinitionInvalidError, SinkUnavailableError, httpError } from './errors';
import { EditRefusedError, PipelineEditor, etagOf } from './pipeline-edit';
import { ResetRefusedError } from './pipeline-reset';

/** PUT /api/v1/pipelines/:id: edit a pipeline in place (README "Editing a pipeline"). */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class PipelineEditController {
  constructor(private readonly editor: PipelineEditor) {}

  @Put(':id')
  @Access('admin')
  @Costly()
  @ApiOperation({
    summary: 'Replace a definition in place (If-Match: the ETag of GET); applied live',
  })
  @ApiConsumes('application/json', 'application/yaml', 'text/yaml')
  @ApiBody({ schema: definitionInput() })
  @ApiHeader({
    name: 'If-Match',
    required: true,
    description: 'the ETag of GET /pipelines/:id (optional with dryRun=true)',
  })
  @ApiQuery({
    name: 'dryRun',
    required: false,
    schema: { type: 'boolean', default: false },
    description: 'true: every check of the edit (table and live-change rules); nothing stored',
  })
  @ApiQuery({
    name: 'reset',
    required: false,
    schema: { type: 'boolean', default: false },
    description:
      'true: a change that cannot apply live resets the pipeline: what was read is written by ' +
      'the old definition, the per-partition state (not the DLQ) dropped, the new one stored; ' +
      'it reads on from the committed Kafka offsets (README "Editing a pipeline")',
  })
  @ApiResponse({
    status: 200,
    description: 'stored (or unchanged, or a valid dry run); the ETag header is the new version',
    schema: responseSchema('edited'),
  })
  @ApiResponse({ status: 400, description: 'invalid definition, by path', schema: ERROR_REF })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  @ApiResponse({
    status: 409,
    description:
      'a change a running pipeline cannot take, by path (without reset=true); a reset that ' +
      'could not finish now (send it again)',
    schema: ERROR_REF,
  })
  @ApiResponse({ status: 412, description: 'If-Match is not the current ETag', schema: ERROR_REF })
  @ApiResponse({ status: 415, description: 'the body is not JSON or YAML', schema: ERROR_REF })
  @ApiResponse({ status: 428, description: 'no If-Match', schema: ERROR_REF })
  @ApiResponse({ status: 503, description: 'ClickHouse could not be asked', schema: ERROR_REF })
  async edit(
    @Param('id') id: string,
    @Req() req: IncomingMessage,
    @Body() body: unknown,
    @Res() res: ServerResponse,
    @Headers('if-match') ifMatch?: string,
    @Query('dryRun') dryRunText?: string,
    @Query('reset') resetText?: string,
  ): Promise<void> {
    const dryRun = parseFlag('dryRun', dryRunText);
    const reset = parseFlag('reset', resetText);
    const yaml = definitionFormat(req) === 'yaml';
    try {
      const result = await this.editor.edit(
        id,
        body,
        yaml ? 'yaml' : undefined,
        ifMatch,
        dryRun,
        reset,
      );
      const definition = redactDefinition(result.definition);
      const { version, changed, status } = result;
      res.statusCode = HttpStatus.OK;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('etag', etagOf(version));
      const answer = dryRun
        ? { id, dryRun: true, version, changed, definition }
        : { id, status, version, changed, definition };
      res.end(JSON.stringify(answer));
    } catch (err) {
      if (err instanceof EditRefusedError) {
        if (err.version !== undefined) res.setHeader('etag', etagOf(err.version));
        throw httpError(err.status, err.message, err.errors);
      }
      if (err instanceof ResetRefusedError) throw httpError(err.status, err.message);
      if (err instanceof DefinitionInvalidError) {
        throw httpError(HttpStatus.BAD_REQUEST, err.message, err.errors);
      }
      if (err instanceof SinkUnavailableError) {
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, err.message, [
          { path: 'sink.clickhouse.url', message: err.message },
        ]);
      }
      throw err;
    }
  }
}
