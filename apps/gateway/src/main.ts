import 'reflect-metadata';
import { runService } from '#platform';
import { createGateway } from './gateway.module.js';

await runService('gateway', createGateway, {
  needs: ['nats', 'redis'],
  listensOn: (s) => ({ setting: 'GATEWAY_PORT', port: s.gateway.port }),
});
