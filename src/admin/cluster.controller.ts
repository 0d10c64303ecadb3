import { Controller, Get, Query } from '@nestjs/common';
import { ClusterView } from '../cluster';
import { PipelineWatcher } from '../pipelines';
import { ConsumerLag } from './consumer-lag';
import { Access } from '../auth';
import { ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { responseSchema } from './api-schemas';

/**
 * The cluster as any process sees it: members (roles, heartbeat age, actors held), the
 * coordinator, the published assignment, every actor's lease, and per-pipeline consumer lag.
 * `?lag=false` skips the Kafka round trips (for frequent polling).
 */
@ApiTags('cluster')
@Controller('api/v1/cluster')
export class ClusterController {
  constructor(
    private readonly view: ClusterView,
    private readonly watcher: PipelineWatcher,
    private readonly lag: ConsumerLag,
  ) {}

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'Members, coordinator, assignment, leases and lag' })
  @ApiQuery({ name: 'lag', required: false, description: 'false or 0 skips the Kafka round trips' })
  @ApiResponse({
    status: 200,
    description: 'the cluster as this process sees it',
    schema: responseSchema('cluster'),
  })
  async describe(@Query('lag') lag?: string) {
    const cluster = await this.view.describe();
    const withLag = lag !== 'false' && lag !== '0';
    const pipelines = this.watcher.current();
    const lags = await Promise.all(
      cluster.pipelines.map(async (p) => {
        const active = pipelines.get(p.id);
        return withLag && active && p.status === 'running'
          ? this.lag.of(active.pipeline.definition)
          : null;
      }),
    );
    return {
      ...cluster,
      pipelines: cluster.pipelines.map((p, i) => ({ ...p, lag: lags[i] ?? null })),
    };
  }
}
