import { Global, Module } from '@nestjs/common';
import { RedisModule } from '../infra';
import { PipelineState } from './pipeline-state';
import { PipelineStore } from './pipeline-store';
import { PipelineWatcher } from './pipeline-watcher';

/** Pipeline definitions shared by admin and every role. */
@Global()
@Module({
  imports: [RedisModule],
  providers: [PipelineStore, PipelineWatcher, PipelineState],
  exports: [PipelineStore, PipelineWatcher, PipelineState],
})
export class PipelinesModule {}
