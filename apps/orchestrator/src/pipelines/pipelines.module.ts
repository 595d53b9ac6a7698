import { Module } from '@nestjs/common';
import { AgentQueues } from '../agents/agent-queues.js';
import { ProcessExecutor } from '../agents/process-executor.js';
import { InstallationModule } from '../installation/installation.module.js';
import { RelayModule } from '../relay/relay.module.js';
import { PipelineActionProcessor } from './pipeline-action-processor.js';
import { PipelineEngine } from './pipeline-engine.js';
import { PipelineLedger } from './pipeline-ledger.js';
import { PipelineMetrics } from './pipeline-metrics.js';
import { PipelineRepository } from './pipeline-repository.js';
import { PipelineService } from './pipeline-service.js';

/** SPEC 6.1 and 6.3: AAPS pipeline runs, driven here, their actions on the agent queues. */
@Module({
  // the installation check comes first: no worker starts on queues another installation works
  imports: [InstallationModule, RelayModule],
  exports: [PipelineRepository, PipelineService],
  providers: [
    AgentQueues,
    ProcessExecutor,
    PipelineRepository,
    PipelineLedger,
    PipelineMetrics,
    PipelineActionProcessor,
    PipelineEngine,
    PipelineService,
  ],
})
export class PipelinesModule {}
