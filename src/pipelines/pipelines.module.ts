import { Global, Module } from '@nestjs/common';
import { RedisModule } from '../infra';
import { PipelineHolds } from './pipeline-holds';
import { PipelineState } from './pipeline-state';
import { PipelineStore } from './pipeline-store';
import { PipelineWatcher } from './pipeline-watcher';

/** Pipeline definitions shared by admin and every role. */
@Global()
@Module({
  imports: [RedisModule],
  providers: [PipelineStore, PipelineWatcher, PipelineState, PipelineHolds],
  exports: [PipelineStore, PipelineWatcher, PipelineState, PipelineHolds],
})
export class PipelinesModule {}
