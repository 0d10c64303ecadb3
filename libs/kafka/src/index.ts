export * from './kafka-client';
export * from './codecs';
export * from './group-generation';
export * from './offset-reset';
export * from './time-offset';
export * from './record-reader';
