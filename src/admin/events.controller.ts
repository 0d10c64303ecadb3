import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpException,
  HttpStatus,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { httpError, SinkUnavailableError } from './errors';
import { EventLookup, EventLookupError } from './event-lookup';
import { EventPreview, PreviewError } from './event-preview';
import { Access, Costly } from '../auth';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ERROR_REF } from '../auth/error-schema';
import { previewInput, responseSchema } from './api-schemas';

/**
 * GET /api/v1/pipelines/:id/events/:key: what Sluice knows of an event, by its dedup key.
 * POST /api/v1/pipelines/:id/preview: what the pipeline would do with an event, nothing written.
 */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class EventsController {
  constructor(
    private readonly lookup: EventLookup,
    private readonly previewer: EventPreview,
  ) {}

  @Post(':id/preview')
  @HttpCode(HttpStatus.OK)
  // `read`: it runs the stages on the caller's input and writes nothing; costly: it asks
  // ClickHouse for the table (DESCRIBE) on every call.
  @Access('read')
  @Costly()
  @ApiOperation({ summary: 'What the pipeline would do with one event; nothing is written' })
  @ApiBody({ schema: previewInput() })
  @ApiResponse({
    status: 200,
    description: 'written (with the row), filtered, or dead-lettered (with stage and error)',
    schema: responseSchema('preview'),
  })
  @ApiResponse({
    status: 400,
    description: 'invalid body, topic not a source, or a join pipeline',
    schema: ERROR_REF,
  })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  @ApiResponse({
    status: 503,
    description: 'ClickHouse could not be asked about the table; retry',
    schema: ERROR_REF,
  })
  async preview(@Param('id') id: string, @Body() body: unknown) {
    const pipeline = await this.lookup.pipeline(id);
    if (pipeline === undefined) throw httpError(HttpStatus.NOT_FOUND, `pipeline ${id} not found`);
    try {
      return await this.previewer.preview(pipeline, body);
    } catch (err) {
      if (err instanceof PreviewError) throw httpError(HttpStatus.BAD_REQUEST, err.message);
      if (err instanceof SinkUnavailableError) {
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, err.message);
      }
      throw err;
    }
  }

  @Get(':id/events/:key')
  @Access('read')
  @Costly()
  @ApiOperation({ summary: 'Find an event by its dedup key: what became of it' })
  @ApiQuery({ name: 'topic', required: false, description: 'needed when dedup is per topic' })
  @ApiResponse({
    status: 200,
    description: 'the outcomes known, newest first',
    schema: responseSchema('event'),
  })
  @ApiResponse({
    status: 400,
    description: 'no dedup key, topic needed, or index off',
    schema: ERROR_REF,
  })
  @ApiResponse({
    status: 404,
    description: 'no such pipeline, or no record of the key',
    schema: ERROR_REF,
  })
  async find(@Param('id') id: string, @Param('key') key: string, @Query('topic') topic?: string) {
    const pipeline = await this.lookup.pipeline(id);
    if (pipeline === undefined) {
      throw new HttpException(
        { statusCode: 404, error: 'Not Found', message: `pipeline ${id} not found` },
        HttpStatus.NOT_FOUND,
      );
    }
    try {
      const result = await this.lookup.find(pipeline, key, topic);
      if (result.latest === undefined) {
        throw new HttpException(
          {
            statusCode: 404,
            error: 'Not Found',
            stage: 'unknown',
            message:
              `no record of key ${key}: not consumed yet, still in an open batch, ` +
              `or older than the index retention (${result.retentionMs} ms)`,
          },
          HttpStatus.NOT_FOUND,
        );
      }
      const { latest, events, pipeline: pipelineId } = result;
      return { pipeline: pipelineId, key, ...latest, events };
    } catch (err) {
      if (err instanceof EventLookupError) {
        throw new HttpException(
          { statusCode: 400, error: 'Bad Request', message: err.message },
          HttpStatus.BAD_REQUEST,
        );
      }
      throw err;
    }
  }
}
