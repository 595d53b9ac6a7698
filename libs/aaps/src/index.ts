export * from './errors.js';
export * from './ir.js';
export * from './ir-document.js';
export * from './parser.js';
export * from './printer.js';
export * from './run-plan.js';
export * from './shell-import.js';
