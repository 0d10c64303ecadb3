import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { ClusterController } from './cluster.controller';
import { ConsumerLag } from './consumer-lag';
import { RedisModule } from '../infra';
import { DefinitionValidator } from './definition-validator';
import { EventLookup } from './event-lookup';
import { EventPreview } from './event-preview';
import { DlqDiscard } from './dlq-discard';
import { DlqListing } from './dlq-listing';
import { DlqReplay } from './dlq-replay';
import { DlqReplayController } from './dlq-replay.controller';
import { EventsController } from './events.controller';
import { GapAccept } from './gap-accept';
import { PipelineAdmin } from './pipeline-admin.service';
import { PipelineEditController } from './pipeline-edit.controller';
import { PipelineEditor } from './pipeline-edit';
import { PipelineReset } from './pipeline-reset';
import { PipelineHoldsController } from './pipeline-holds.controller';
import { PipelinesController } from './pipelines.controller';
import { PipelinesDirLoader } from './pipelines-dir.loader';
import { ProcessController } from './process.controller';
import { YamlBodyMiddleware } from './yaml-body.middleware';
import { PipelineRewind } from './rewind/pipeline-rewind';
import { RewindController } from './rewind/rewind.controller';

/** Admin REST and PIPELINES_DIR, served by every process whatever its roles. */
@Module({
  imports: [RedisModule],
  controllers: [
    ProcessController,
    PipelinesController,
    PipelineEditController,
    PipelineHoldsController,
    DlqReplayController,
    EventsController,
    ClusterController,
    RewindController,
  ],
  providers: [
    DefinitionValidator,
    PipelineAdmin,
    PipelineEditor,
    PipelineReset,
    ConsumerLag,
    PipelinesDirLoader,
    EventLookup,
    EventPreview,
    DlqDiscard,
    DlqListing,
    DlqReplay,
    GapAccept,
    PipelineRewind,
  ],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(YamlBodyMiddleware)
      .forRoutes(
        { path: 'api/v1/pipelines', method: RequestMethod.POST },
        { path: 'api/v1/pipelines/:id', method: RequestMethod.PUT },
      );
  }
}
