export * from './entry';
export * from './routing';
export * from './key-scan';
export * from './entry-builder';
