export * from './kafka-client';
export * from './codecs';
export * from './group-generation';
export * from './offset-reset';
