import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { RelayModule } from '../relay/relay.module.js';
import { PipelineActionProcessor } from './pipeline-action-processor.js';
import { PipelineEngine } from './pipeline-engine.js';
import { PipelineLedger } from './pipeline-ledger.js';
import { PipelineMetrics } from './pipeline-metrics.js';
import { PipelineRepository } from './pipeline-repository.js';
import { PipelineService } from './pipeline-service.js';

/** SPEC 6.1 and 6.3: AAPS pipeline runs, driven here, their actions on the agent queues. */
@Module({
  imports: [AgentsModule, RelayModule],
  exports: [PipelineRepository, PipelineService],
  providers: [
    PipelineRepository,
    PipelineLedger,
    PipelineMetrics,
    PipelineActionProcessor,
    PipelineEngine,
    PipelineService,
  ],
})
export class PipelinesModule {}
