export * from './config';
export * from './env.schema';
export * from './roles';
export * from './config.module';
