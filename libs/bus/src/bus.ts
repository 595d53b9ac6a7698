import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type LoggerService } from '@nestjs/common';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { BusUnavailableError, Subjects } from '#contracts';
import type { Settings } from '#platform';
import { describeJetStreamError, isClusterNotReady, isJetStreamNotEnabled } from './jetstream-readiness.js';

/**
 * The one NATS connection of a service, with its JetStream client and manager and the subject builder.
 * Reconnects forever once connected (NATS restarts are routine); fails fast on the first connect so a
 * wrong NATS_URL is reported at start rather than hidden.
 */
export class Bus {
  private readonly logger = new Logger(Bus.name);
  private connected = true;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly subjects: Subjects,
  ) {
    void this.watchStatus();
  }

  /**
   * `startLogger`: where the wait for JetStream is told. It must write at once: Nest buffers its own
   * `Logger` until the application is created, and this wait happens while it is being created.
   */
  static async connect(settings: Settings, service: string, startLogger: LoggerService): Promise<Bus> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: settings.nats.servers,
        name: `guardkit-${service}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        pingInterval: 10_000,
        // an Error with a stack for every request (each JetStream publish) cost ~4% of the ingestor's CPU
        // (bench:e2e profile); a timeout still says what timed out
        noAsyncTraces: true,
      });
    } catch (error) {
      throw new BusUnavailableError(`cannot connect to NATS at ${settings.nats.servers.join(',')}`, {
        cause: error,
      });
    }
    const jsm = await Bus.jetStreamManager(nc, settings, startLogger);
    const js = jetstream(nc, { timeout: settings.nats.publishTimeoutMs });
    return new Bus(nc, js, jsm, new Subjects(settings.nats.namespace));
  }

  /**
   * The JetStream manager, once JetStream answers. A server without JetStream says so at once, and that is
   * final; a cluster still electing its meta leader (or a lone member waiting for the others) does not answer
   * in time, or says it is not available yet, and is waited for up to STREAM_PROVISION_TIMEOUT_MS.
   */
  private static async jetStreamManager(
    nc: NatsConnection,
    settings: Settings,
    logger: LoggerService,
  ): Promise<JetStreamManager> {
    const deadline = Date.now() + settings.streams.provisionTimeoutMs;
    let lastReason: string | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        // the first probes short (1 s, 2 s, …) so a cluster that forms soon is noticed soon
        const timeout = Math.min(settings.nats.requestTimeoutMs, attempt * 1000);
        await jetstreamManager(nc, { timeout });
        return await jetstreamManager(nc, { timeout: settings.nats.requestTimeoutMs, checkAPI: false });
      } catch (error) {
        if (isClusterNotReady(error) && Date.now() < deadline) {
          const reason = describeJetStreamError(error);
          if (attempt === 1) {
            logger.warn(
              { servers: settings.nats.servers, reason },
              'JetStream does not answer yet (a cluster electing its leader?); waiting up to STREAM_PROVISION_TIMEOUT_MS',
              Bus.name,
            );
          } else if (reason !== lastReason) {
            logger.warn({ attempt, reason }, 'JetStream still does not answer; waiting', Bus.name);
          }
          lastReason = reason;
          await sleep(500);
          continue;
        }
        void nc.close();
        throw new BusUnavailableError(
          isClusterNotReady(error)
            ? `JetStream did not answer within STREAM_PROVISION_TIMEOUT_MS (${settings.streams.provisionTimeoutMs} ms): is the cluster missing members? (${describeJetStreamError(error)})`
            : isJetStreamNotEnabled(error)
              ? 'NATS answers but JetStream is not enabled (start nats-server with -js)'
              : `JetStream refused the first request: ${describeJetStreamError(error)}`,
          { cause: error },
        );
      }
    }
  }

  /** For readiness: connected now (not closed, not between reconnects). */
  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Finishes in-flight work (subscriptions drain, pending publishes flush), then closes. */
  async drain(): Promise<void> {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    await this.nc.drain();
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.connected = false;
          this.logger.warn({ server: status.server }, 'NATS disconnected; reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.logger.log({ server: status.server }, 'NATS reconnected');
          break;
        case 'error':
          this.logger.error({ err: status.error }, 'NATS connection error');
          break;
        default:
          break;
      }
    }
  }
}
