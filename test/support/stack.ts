import type { INestApplicationContext } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';
import { createIngestor } from '../../apps/ingestor/src/ingestor.module.js';
import {
  createOrchestrator,
  type OrchestratorOptions,
} from '../../apps/orchestrator/src/orchestrator.module.js';
import type { TestEnv } from './test-env.js';

/** The three services in this process, wired to one TestEnv, as `npm start` runs them. */
export class Stack {
  private constructor(
    readonly env: TestEnv,
    public orchestrator: INestApplicationContext | undefined,
    public ingestor: INestApplicationContext | undefined,
    public gateway: NestExpressApplication,
    readonly baseUrl: string,
  ) {}

  static async start(env: TestEnv, options: OrchestratorOptions = {}): Promise<Stack> {
    const settings = env.settings;
    const orchestrator = await createOrchestrator(settings, options);
    const ingestor = await createIngestor(settings);
    const gateway = await createGateway(settings);
    const address = gateway.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return new Stack(env, orchestrator, ingestor, gateway, `http://127.0.0.1:${port}`);
  }

  /** Stops the gateway (its clients see the connection drop) and, after `awayMs`, starts it on the same port. */
  async restartGateway(awayMs = 0): Promise<void> {
    const port = Number(new URL(this.baseUrl).port);
    await this.gateway.close();
    if (awayMs > 0) await new Promise((r) => setTimeout(r, awayMs));
    const settings = this.env.settings;
    this.gateway = await createGateway({ ...settings, gateway: { ...settings.gateway, port } });
  }

  async restartIngestor(): Promise<void> {
    await this.ingestor?.close();
    this.ingestor = await createIngestor(this.env.settings);
  }

  async stop(): Promise<void> {
    await this.env.cleanup(this.gateway, this.ingestor, this.orchestrator);
  }
}
