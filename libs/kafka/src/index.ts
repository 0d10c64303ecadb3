export * from './kafka-client';
export * from './codecs';
export * from './group-generation';
export * from './offset-reset';
export * from './kafka-security';
export * from './oauth-token';
export * from './token-cache';
export * from './cluster-probes';
