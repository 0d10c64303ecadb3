import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { PIPELINE_ID_RE, redactDefinition } from '@sluice/pipeline';
import {
  PipelineHolds,
  PipelineState,
  PipelineStore,
  type PipelineStatus,
  summarizeHolds,
} from '../pipelines';
import { ConsumerLag } from './consumer-lag';
import { DLQ_LIMIT, DlqListing, parseDlqQuery } from './dlq-listing';
import {
  DefinitionInvalidError,
  DuplicatePipelineError,
  httpError,
  SinkUnavailableError,
} from './errors';
import { PipelineAdmin } from './pipeline-admin.service';
import { PipelineEditor, etagOf } from './pipeline-edit';
import { Access, Costly } from '../auth';
import {
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ERROR_REF } from '../auth/error-schema';
import { definitionInput, responseSchema } from './api-schemas';
import { definitionFormat, parseFlag } from './definition-request';

const GAPS_LIMIT = { default: 100, max: 1_000 };
/** Source gaps shown with the pipeline itself; the rest under /source-gaps. */
const GAPS_SHOWN = 5;
/** Counters of join pipelines, reported with the others (the owner keeps them per partition). */
const JOIN_COUNTERS = ['joined', 'unmatchedLeft', 'expiredRight', 'late'] as const;

function parseLimit(text: string | undefined, bounds: { default: number; max: number }): number {
  const limit = text === undefined ? bounds.default : Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > bounds.max) {
    throw httpError(HttpStatus.BAD_REQUEST, 'invalid query', [
      { path: 'limit', message: `must be a whole number from 1 to ${bounds.max}` },
    ]);
  }
  return limit;
}

function sendJson(res: ServerResponse, status: HttpStatus, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

const notFound = (id: string) => httpError(HttpStatus.NOT_FOUND, `pipeline ${id} not found`);

/** Pipeline lifecycle under /api/v1/pipelines; served by every process. */
@ApiTags('pipelines')
@Controller('api/v1/pipelines')
export class PipelinesController {
  constructor(
    private readonly admin: PipelineAdmin,
    private readonly store: PipelineStore,
    private readonly state: PipelineState,
    private readonly lag: ConsumerLag,
    private readonly holds: PipelineHolds,
    private readonly dlq: DlqListing,
    private readonly editor: PipelineEditor,
  ) {}

  /**
   * Creates a pipeline (201), or with `?dryRun=true` only validates it as creating would, table
   * checks included, and answers 200 with the normalized definition; nothing is stored.
   */
  @Post()
  @Access('admin')
  @Costly()
  @ApiOperation({ summary: 'Create a pipeline (validated, target table checked)' })
  @ApiConsumes('application/json', 'application/yaml', 'text/yaml')
  @ApiBody({ schema: definitionInput() })
  @ApiQuery({
    name: 'dryRun',
    required: false,
    schema: { type: 'boolean', default: false },
    description:
      'true: only check the definition as creating would (table included); nothing stored',
  })
  @ApiResponse({
    status: 200,
    description: 'dry run: the definition is valid; the normalized definition, secrets as ***',
    schema: responseSchema('dryRun'),
  })
  @ApiResponse({
    status: 201,
    description: 'created; secrets shown as ***',
    schema: responseSchema('created'),
  })
  @ApiResponse({
    status: 400,
    description: 'invalid definition: every error by field path',
    schema: ERROR_REF,
  })
  @ApiResponse({ status: 409, description: 'a pipeline with this id exists', schema: ERROR_REF })
  @ApiResponse({
    status: 503,
    description: 'ClickHouse could not be asked about the table; retry',
    schema: ERROR_REF,
  })
  async create(
    @Req() req: IncomingMessage,
    @Body() body: unknown,
    // Written here, not returned: the status depends on the request (201, or 200 for a dry run).
    @Res() res: ServerResponse,
    @Query('dryRun') dryRunText?: string,
  ): Promise<void> {
    const dryRun = parseFlag('dryRun', dryRunText);
    const yaml = definitionFormat(req) === 'yaml';
    try {
      const contentType = yaml ? 'yaml' : undefined;
      if (dryRun) {
        const checked = await this.admin.check(body, contentType);
        const definition = redactDefinition(checked.definition);
        return sendJson(res, HttpStatus.OK, { id: checked.id, dryRun: true, definition });
      }
      const pipeline = await this.admin.create(body, contentType);
      return sendJson(res, HttpStatus.CREATED, {
        id: pipeline.id,
        status: 'running' satisfies PipelineStatus,
        definition: redactDefinition(pipeline.definition),
      });
    } catch (err) {
      if (err instanceof DefinitionInvalidError) {
        throw httpError(HttpStatus.BAD_REQUEST, err.message, err.errors);
      }
      // 503, not 400: the definition may well be right, and the same request can succeed once
      // ClickHouse answers; a client should retry rather than edit.
      if (err instanceof SinkUnavailableError) {
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, err.message, [
          { path: 'sink.clickhouse.url', message: err.message },
        ]);
      }
      if (err instanceof DuplicatePipelineError) throw httpError(HttpStatus.CONFLICT, err.message);
      throw err;
    }
  }

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'List pipelines with their counters' })
  @ApiResponse({
    status: 200,
    description: 'every pipeline, by id',
    schema: responseSchema('summaries'),
  })
  async list() {
    const stored = await this.store.list();
    const ids = [...stored.keys()].sort();
    return Promise.all(
      ids.map(async (id) => {
        const { definition, status } = stored.get(id)!;
        const [{ counters }, holds] = await Promise.all([
          this.state.counters(id, definition.partitions),
          this.holds.of(id),
        ]);
        return { id, status, counters, holds: summarizeHolds(holds) };
      }),
    );
  }

  @Get(':id')
  @Access('read')
  @ApiOperation({ summary: 'A pipeline: definition, status, counters, lag, source gaps' })
  @ApiResponse({ status: 200, description: 'the pipeline', schema: responseSchema('pipeline') })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  async get(@Param('id') id: string, @Res({ passthrough: true }) res: ServerResponse) {
    const stored = await this.find(id);
    const [{ counters, other }, lag, sourceGaps, holds, partitionVersions] = await Promise.all([
      this.state.counters(id, stored.definition.partitions),
      this.lag.of(stored.definition),
      this.state.sourceGaps(id, GAPS_SHOWN),
      this.holds.of(id),
      this.editor.partitionVersions(id, stored.definition.partitions),
    ]);
    // What PUT /pipelines/:id wants back in If-Match (README "Editing a pipeline").
    res.setHeader('etag', etagOf(stored.version));
    const joinCounters: Record<string, number> = {};
    if (stored.definition.join) {
      for (const name of JOIN_COUNTERS) {
        joinCounters[name] = other[name] ?? 0;
        delete other[name];
      }
    }
    return {
      id,
      status: stored.status,
      version: stored.version,
      // The version each partition's last checkpoint ran: an edit has reached them all when
      // every one shows `version`.
      partitionVersions,
      definition: redactDefinition(stored.definition),
      counters: { ...counters, ...joinCounters },
      // Source messages the consumer group has not committed yet; null when Kafka is away.
      lag,
      otherCounters: other,
      // Input lost at the source: offsets kafkajs skipped after OFFSET_OUT_OF_RANGE.
      sourceGaps,
      // Partitions (or the whole pipeline) stopped on purpose until an operator or a fix
      // resolves the cause: nothing is dropped to get past them.
      holds: holds.map(({ pipeline: _, ...hold }) => hold),
    };
  }

  @Delete(':id')
  @Access('admin')
  @ApiOperation({ summary: 'Delete a pipeline and all its Redis state (outbox, DLQ, checkpoints)' })
  @ApiResponse({ status: 204, description: 'deleted' })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(@Param('id') id: string): Promise<void> {
    if (!(await this.admin.remove(id))) throw notFound(id);
  }

  @Post(':id/stop')
  @Access('operate')
  @ApiOperation({ summary: 'Stop a pipeline: it consumes nothing until resumed' })
  @ApiResponse({ status: 200, description: 'stopped', schema: responseSchema('status') })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  @HttpCode(HttpStatus.OK)
  stop(@Param('id') id: string) {
    return this.setStatus(id, 'stopped');
  }

  @Post(':id/resume')
  @Access('operate')
  @ApiOperation({ summary: 'Resume a stopped pipeline' })
  @ApiResponse({ status: 200, description: 'running', schema: responseSchema('status') })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  @ApiResponse({ status: 409, description: 'a rewind is not finished', schema: ERROR_REF })
  @HttpCode(HttpStatus.OK)
  resume(@Param('id') id: string) {
    return this.setStatus(id, 'running');
  }

  /**
   * Dead letters newest first, filtered by stage, source partition and time. The body is the
   * page (an array); the next page's cursor is in `X-Next-Cursor` (absent on the last page):
   * send it back as `cursor` with the same filters.
   */
  @Get(':id/dlq')
  @Access('read')
  @Costly()
  @ApiOperation({ summary: 'Dead letters of all partitions, newest first, filtered, by pages' })
  @ApiQuery({
    name: 'stage',
    required: false,
    schema: { type: 'string' },
    description: 'only this stage (parse, filter, dedup, join, transform, insert)',
  })
  @ApiQuery({
    name: 'partition',
    required: false,
    schema: { type: 'integer', minimum: 0 },
    description: 'only this source (Kafka) partition',
  })
  @ApiQuery({
    name: 'since',
    required: false,
    schema: { type: 'string', format: 'date-time' },
    description: 'dead-lettered at or after (inclusive)',
  })
  @ApiQuery({
    name: 'until',
    required: false,
    schema: { type: 'string', format: 'date-time' },
    description: 'dead-lettered at or before (inclusive)',
  })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: DLQ_LIMIT.max, default: DLQ_LIMIT.default },
  })
  @ApiQuery({
    name: 'cursor',
    required: false,
    schema: { type: 'string' },
    description: 'X-Next-Cursor of the previous page; send the same filters',
  })
  @ApiResponse({
    status: 200,
    description: 'newest first',
    schema: responseSchema('deadLetters'),
    headers: {
      'X-Next-Cursor': {
        description: "the next page's cursor; absent on the last page",
        schema: { type: 'string' },
      },
    },
  })
  @ApiResponse({
    status: 400,
    description: 'a query parameter out of range, or not a cursor',
    schema: ERROR_REF,
  })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  async deadLetters(
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
    @Res({ passthrough: true }) res: ServerResponse,
  ) {
    const parsed = parseDlqQuery(query);
    if (Array.isArray(parsed)) throw httpError(HttpStatus.BAD_REQUEST, 'invalid query', parsed);
    const stored = await this.find(id);
    const page = await this.dlq.page(id, stored.definition.partitions, parsed);
    if (page.next !== undefined) res.setHeader('X-Next-Cursor', page.next);
    return page.entries;
  }

  @Get(':id/source-gaps')
  @Access('read')
  @ApiOperation({ summary: 'Offset ranges the source dropped before they were read' })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: GAPS_LIMIT.max, default: GAPS_LIMIT.default },
  })
  @ApiResponse({
    status: 200,
    description: 'totals and the newest ranges',
    schema: responseSchema('sourceGaps'),
  })
  @ApiResponse({ status: 400, description: 'limit out of range', schema: ERROR_REF })
  @ApiResponse({ status: 404, description: 'no pipeline with this id', schema: ERROR_REF })
  async sourceGaps(@Param('id') id: string, @Query('limit') limitText?: string) {
    const limit = parseLimit(limitText, GAPS_LIMIT);
    await this.find(id);
    return this.state.sourceGaps(id, limit);
  }

  private async setStatus(id: string, status: PipelineStatus) {
    await this.find(id);
    // A half-done rewind (README "Rewind") must be finished before the pipeline reads again.
    const rewind = status === 'running' ? await this.store.unfinishedRewind(id) : undefined;
    if (rewind) {
      throw httpError(
        HttpStatus.CONFLICT,
        `pipeline ${id}: its rewind to ${rewind.to} is not finished: send that rewind again`,
      );
    }
    // So must a reset (README "Editing a pipeline"): it stops and resumes the pipeline itself.
    const reset = await this.store.unfinishedReset(id);
    if (reset) {
      throw httpError(
        HttpStatus.CONFLICT,
        `pipeline ${id}: a reset is not finished: send that PUT ?reset=true again`,
      );
    }
    await this.store.setStatus(id, status);
    return { id, status };
  }

  private async find(id: string) {
    const stored = PIPELINE_ID_RE.test(id) ? await this.store.get(id) : undefined;
    if (!stored) throw notFound(id);
    return stored;
  }
}
