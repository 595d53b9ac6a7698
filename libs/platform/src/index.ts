export * from './clock.js';
export * from './logging.js';
export * from './platform.module.js';
export * from './service.js';
export * from './settings.js';
export * from './preflight.js';
export * from './access-rule.js';
