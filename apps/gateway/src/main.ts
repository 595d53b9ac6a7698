import 'reflect-metadata';
import { runService } from '#platform';
import { createGateway } from './gateway.module.js';

await runService('gateway', createGateway);
