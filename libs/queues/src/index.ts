export * from './queues.module.js';
export * from './redis-connection.js';
export * from './redis-link.js';
export * from './queue-names.js';
