import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { RelayModule } from '../relay/relay.module.js';
import { WorkflowLedger } from './workflow-ledger.js';
import { WorkflowMetrics } from './workflow-metrics.js';
import { WorkflowRepository } from './workflow-repository.js';
import { WorkflowRoleProcessor } from './workflow-role-processor.js';
import { WorkflowService } from './workflow-service.js';
import { WorkspaceLocks } from './workspace-lock.js';

/** SPEC 6.2: role workflows as BullMQ flows over the agent queues. */
@Module({
  imports: [AgentsModule, RelayModule],
  providers: [
    WorkflowRepository,
    WorkflowLedger,
    WorkflowMetrics,
    WorkspaceLocks,
    WorkflowRoleProcessor,
    WorkflowService,
  ],
})
export class WorkflowsModule {}
