import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OutboxMessageEntity } from './outbox-message.entity.js';
import { OutboxProjector } from './outbox-projector.js';
import { OutboxQueries } from './outbox-queries.js';

@Module({
  imports: [TypeOrmModule.forFeature([OutboxMessageEntity])],
  providers: [OutboxProjector, OutboxQueries],
})
export class OutboxModule {}
