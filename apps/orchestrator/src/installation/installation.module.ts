import { Module } from '@nestjs/common';
import { InstallationGuard } from './installation-guard.js';

/** This installation's identity, and the refusal to share NATS or Redis with another one unawares. */
@Module({ providers: [InstallationGuard], exports: [InstallationGuard] })
export class InstallationModule {}
