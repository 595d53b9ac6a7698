import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BuildEntity } from './build.entity.js';
import { BuildProjector } from './build-projector.js';
import { BuildQueries } from './build-queries.js';

@Module({
  imports: [TypeOrmModule.forFeature([BuildEntity])],
  providers: [BuildProjector, BuildQueries],
  exports: [BuildProjector],
})
export class BuildsModule {}
