import { Module } from '@nestjs/common';
import { PipelinesModule } from '../pipelines/pipelines.module.js';
import { AutoAppDevRepository } from './autoappdev-repository.js';
import { AutoAppDevService } from './autoappdev-service.js';

/** AutoAppDev's backend state (scripts, inbox, the current pipeline), for the gateway's compatible API. */
@Module({ imports: [PipelinesModule], providers: [AutoAppDevRepository, AutoAppDevService] })
export class AutoAppDevModule {}
