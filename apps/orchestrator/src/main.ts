import 'reflect-metadata';
import { runService } from '#platform';
import { createOrchestrator } from './orchestrator.module.js';

await runService('orchestrator', createOrchestrator);
