import { Module } from '@nestjs/common';
import { EventRelay } from './event-relay.js';

/** The orchestrator's transactional outbox: events recorded with the state they report, published after. */
@Module({ providers: [EventRelay], exports: [EventRelay] })
export class RelayModule {}
