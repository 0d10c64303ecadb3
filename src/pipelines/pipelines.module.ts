import { Global, Module } from '@nestjs/common';
import { RedisModule } from '../infra';
import { PipelineStore } from './pipeline-store';
import { PipelineWatcher } from './pipeline-watcher';

/** Pipeline definitions shared by admin and every role. */
@Global()
@Module({
  imports: [RedisModule],
  providers: [PipelineStore, PipelineWatcher],
  exports: [PipelineStore, PipelineWatcher],
})
export class PipelinesModule {}
