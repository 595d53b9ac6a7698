export * from './build-queries.js';
export * from './build-status.js';
export * from './envelope.js';
export * from './errors.js';
export * from './ids.js';
export * from './subjects.js';
export * from './validation.js';
export * from './outbox.js';
