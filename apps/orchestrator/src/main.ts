import 'reflect-metadata';
import { runService } from '#platform';
import { createOrchestrator } from './orchestrator.module.js';

await runService('orchestrator', createOrchestrator, {
  needs: ['nats', 'redis', 'postgres'],
  listensOn: (s) => ({ setting: 'HEALTH_PORT', port: s.healthPort }),
});
