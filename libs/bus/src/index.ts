export * from './bus.js';
export * from './bus.module.js';
export * from './event-publisher.js';
export * from './rpc.js';
export * from './stream-provisioner.js';
export * from './ordered-reader.js';
export * from './batch-reader.js';
export * from './stored-message.js';
