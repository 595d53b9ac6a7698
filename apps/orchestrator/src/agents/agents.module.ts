import { Module } from '@nestjs/common';
import { InstallationModule } from '../installation/installation.module.js';
import { AgentQueues } from './agent-queues.js';
import { BuildCancellation } from './build-cancellation.js';
import { ProcessExecutor } from './process-executor.js';

/** SPEC 6.3: the agent queues and the one executor, shared by pipelines and workflows. */
@Module({
  // the installation check comes first: no worker starts on queues another installation works
  imports: [InstallationModule],
  providers: [AgentQueues, ProcessExecutor, BuildCancellation],
  exports: [AgentQueues, ProcessExecutor, BuildCancellation],
})
export class AgentsModule {}
