export * from './redis-connection';
export * from './keys';
export * from './queues';
export * from './holds';
export * from './dead-letters';
export * from './outbox';
