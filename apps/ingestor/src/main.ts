import 'reflect-metadata';
import { runService } from '#platform';
import { createIngestor } from './ingestor.module.js';

await runService('ingestor', createIngestor, {
  needs: ['nats', 'progress-folders'],
  listensOn: (s) => ({ setting: 'HEALTH_PORT', port: s.healthPort }),
});
