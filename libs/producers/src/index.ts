export * from './progress-file-writer.js';
