export * from './assignment';
export * from './cluster-redis';
export * from './cluster-view';
export * from './cluster.module';
export * from './coordinator';
export * from './member';
export * from './membership';
export * from './published-assignment';
