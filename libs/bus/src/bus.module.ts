import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { SETTINGS, type Settings } from '#platform';
import { Bus } from './bus.js';
import { EventPublisher } from './event-publisher.js';
import { RpcClient, RpcServer } from './rpc.js';
import { StreamProvisioner } from './stream-provisioner.js';

/**
 * NATS for a service: the connection, stream provisioning on start, publishing and request/reply.
 * On shutdown the connection drains after every other module has stopped its consumers.
 */
@Module({})
export class BusModule implements OnApplicationShutdown {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  static forRoot(service: string): DynamicModule {
    return {
      module: BusModule,
      global: true,
      providers: [
        {
          provide: Bus,
          inject: [SETTINGS, PinoNestLogger],
          useFactory: (settings: Settings, logger: PinoNestLogger) => Bus.connect(settings, service, logger),
        },
        StreamProvisioner,
        EventPublisher,
        RpcServer,
        RpcClient,
      ],
      exports: [Bus, EventPublisher, RpcServer, RpcClient, StreamProvisioner],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.drain();
  }
}
