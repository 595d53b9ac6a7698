export * from './health.controller.js';
export * from './health.module.js';
export * from './serve.js';
export * from './service-metrics.js';
export * from './unscraped-counts.js';
