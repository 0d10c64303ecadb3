export * from './entry';
export * from './routing';
