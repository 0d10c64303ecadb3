import { Controller, Get, HttpException, HttpStatus, Param, Query } from '@nestjs/common';
import { EventLookup, EventLookupError } from './event-lookup';
import { Access, Costly } from '../auth';
import { ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ERROR_REF } from '../auth/error-schema';
import { responseSchema } from './api-schemas';

/** GET /api/v1/pipelines/:id/events/:key: what Sluice knows of an event, by its dedup key. */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class EventsController {
  constructor(private readonly lookup: EventLookup) {}

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
