import { Module } from '@nestjs/common';
import { HistoryRetention } from './history-retention.js';

@Module({ providers: [HistoryRetention], exports: [HistoryRetention] })
export class RetentionModule {}
