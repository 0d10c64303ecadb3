export * from './pipeline-store';
export * from './pipeline-watcher';
export * from './pipelines.module';
export * from './pipeline-state';
export * from './pipeline-holds';
