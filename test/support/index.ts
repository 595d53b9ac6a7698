export * from './services.js';
export * from './sse-client.js';
export * from './stack.js';
export * from './test-env.js';
export * from './progress.js';
export * from './service-process.js';
export * from './tmux.js';
export * from './triggers.js';
