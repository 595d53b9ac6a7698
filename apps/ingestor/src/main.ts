import 'reflect-metadata';
import { runService } from '#platform';
import { createIngestor } from './ingestor.module.js';

await runService('ingestor', createIngestor);
